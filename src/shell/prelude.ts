// The shell functions every node script starts with. They are the only shell
// code netlab writes by hand; everything after them is quoted argv from a plan.
// POSIX sh (dash on Debian/Ubuntu), no bashisms.
import { quoteArg, quoteArgv } from '../os/quote.js';
import { NODE_STATE_ROOT, nodeStateDir } from '../node/paths.js';

/** A Service check stops after this many failed connections: it has failed. */
export const SERVICE_GIVE_UP = 5;

const FUNCTIONS = String.raw`
set -u
# sudo and non-login shells may leave the sbin directories out of PATH.
PATH=$PATH:/usr/sbin:/sbin
# The lab name was checked before this script was made; never act on another directory.
case $NETLAB_LAB in ''|.*|*/*) echo "netlab: bad lab name" >&2; exit 2 ;; esac

# The lab's directory on this node belongs to one run of netlab up: its first
# script records the run; a script of any other run stops here, changing nothing.
# netlab_claim [POD...]: the first script also makes the directories of the pods
# it starts, in the same mkdir (a process less per pod, as netlab_pause finds
# its directory there).
netlab_claim() {
  if [ -f "$NETLAB_DIR/run" ]; then
    netlab_ours && return 0
    echo "@@netlab other-run $id $from"
    return 1
  fi
  # "$@" is expanded once, as the loop starts: each pod's name is replaced by its directory.
  for pod in "$@"; do set -- "$@" "$NETLAB_DIR/pods/$pod"; shift; done
  # The directory is named by the lab's short kernel name; "lab" says which lab and instance it is.
  mkdir -p "$NETLAB_DIR/pods" "$@" && printf '%s\n' "$NETLAB_LAB" >"$NETLAB_DIR/lab" &&
    printf '%s %s\n' "$NETLAB_RUN" "$NETLAB_RUN_FROM" >"$NETLAB_DIR/run"
}

# Whether this node holds this run of the lab (sets id and from, the run it holds):
# a challenge never changes a node the lab has left meanwhile, or that another run holds.
netlab_ours() {
  id="" from=""
  [ -f "$NETLAB_DIR/run" ] && read -r id from <"$NETLAB_DIR/run"
  [ -n "$id" ] && [ "$id" = "$NETLAB_RUN" ]
}

# Step markers go to stdout (progress) and stderr (to attribute error output to a step).
netlab_begin() { echo "@@netlab begin $1"; echo "@@netlab begin $1" >&2; }
netlab_done() { echo "@@netlab done $1"; }
netlab_fail() { echo "@@netlab fail $1 $2"; exit 1; }
# Several consecutive steps that are each one \`ip\` command for the same namespace
# run as one \`ip -batch\` (one process instead of one per step): netlab_batch
# NAMESPACE|- "LINE LINE ..." with the commands on stdin, a LINE per command:
# its step's ID, or "ID+ID" for a line that does two steps (a veth pair made
# with its pod end in the pod: the pair's step and the move's). On failure, ip
# names the failing line, which names the step (the first of two).
netlab_batch() {
  ids=$2
  if [ "$1" = "-" ]; then out=$(ip -batch - 2>&1); else out=$(ip -n "$1" -batch - 2>&1); fi
  rc=$?
  if [ "$rc" -eq 0 ]; then
    for id in $ids; do netlab_line_done "$id"; done
    return 0
  fi
  n=$(printf '%s\n' "$out" | sed -n 's/.*Command failed -:\([0-9]*\).*/\1/p' | head -n 1)
  line=${'$'}{ids%% *}
  if [ -z "$n" ]; then
    # ip refused a line's arguments outright ("argument ... is wrong"): it names no line, and
    # those before it ran. The batch's first step is named, with what ip said and all its steps.
    note="(ip did not say which line failed: this step's, or a later one of the batch's: $ids)"
  else
    i=1
    for id in $ids; do
      if [ "$i" -lt "$n" ]; then netlab_line_done "$id"; elif [ "$i" -eq "$n" ]; then line=$id; fi
      i=$((i + 1))
    done
    note=
    [ "$line" = "${'$'}{line%%+*}" ] || note="(netlab made this veth pair with its pod end directly in the pod, in one command with step ${'$'}{line#*+}'s move)"
  fi
  failed=${'$'}{line%%+*}
  echo "@@netlab begin $failed" >&2
  printf '%s\n' "$out" >&2
  [ -z "$note" ] || printf '%s\n' "$note" >&2
  echo "@@netlab fail $failed $rc"
  exit 1
}
netlab_line_done() {
  echo "@@netlab done ${'$'}{1%%+*}"
  [ "${'$'}{1#*+}" = "$1" ] || echo "@@netlab done ${'$'}{1#*+}"
}
# Several consecutive steps that are iptables commands on one table run as one
# iptables-restore --noflush (one process instead of one per command):
# netlab_xt_batch "ID ID ..." with the restore input on stdin. iptables-restore
# commits a table as one transaction: when it fails, nothing of it was applied,
# and the script runs the steps' commands one at a time instead, so that the one
# that fails names its step and says why in iptables' own words.
netlab_xt_batch() {
  iptables-restore -w --noflush 2>/dev/null || return 1
  for id in $1; do echo "@@netlab done $id"; done
}
# The node's undo journal: one command per line, run in reverse by "netlab down".
netlab_record() { printf '%s\n' "$1" >>"$NETLAB_DIR/undo"; }

# Processes netlab starts are recorded as "PID START", START being the process's
# start time (field 22 of /proc/PID/stat): a PID the kernel has since given to
# another process is never killed or entered. Each pod has a directory of its own.
# netlab_started PID sets $started and $state (field 3: Z for a process that has
# died and is not yet reaped), read by the shell itself: no process, as many
# times as a lab has pods.
netlab_started() {
  read -r started 2>/dev/null <"/proc/$1/stat" || return 1
  started=${'$'}{started##*) }
  # shellcheck disable=SC2086
  set -- $started
  state=$1
  shift 19
  started=$1
}
netlab_pid_write() { netlab_started "$2" || started=gone; echo "$2 $started" >"$1"; }
# The recorded PID, if that process still lives (a zombie is dead: a killed pause
# whose parent has not reaped it yet).
netlab_pid_read() {
  [ -f "$1" ] || return 1
  read -r p t <"$1"
  [ -n "$p" ] && netlab_started "$p" && [ "$started" = "$t" ] && [ "$state" != Z ] && echo "$p"
}

# IPv6 off in a pod's network namespace: for lo (all) and for every interface that
# arrives later (default: a device moved in takes the settings of the namespace it
# lands in). Written by a shell in the namespace: /proc/sys/net is the reader's own.
# A kernel without IPv6 (ipv6.disable=1) has nothing to turn off.
netlab_ipv4_only() {
  nsenter --net="/run/netns/$1" sh -c '[ ! -d /proc/sys/net/ipv6 ] || { echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6; }'
}
# A pod's processes (pause, containers) outlive the script that starts them, and
# netlab: netlab_outlive CMD... starts CMD in the background, ignoring SIGHUP (set
# in the background job's own shell, which then becomes CMD: $! is its PID, and an
# ignored signal stays ignored across exec, in what it starts too). Where netlab
# ends a terminal's session (the command of "script -c", of a tmux window, of
# "ssh -t"), the kernel sends SIGHUP to the terminal's foreground process group,
# netlab's and its scripts', as the session's leader exits. (SIGINT and SIGQUIT a
# shell without job control ignores in its background jobs already.)
netlab_outlive() { (trap '' HUP; exec "$@") </dev/null >/dev/null 2>&1 & }
# Start a pod's pause process: new UTS, IPC and PID namespaces (and a mount
# namespace with "netlab_pause POD mount", for pods with a rootfs) inside the
# pod's network namespace; hostname = pod name (written by the shell builtin,
# no extra process; in a user namespace, where /proc/sys/kernel belongs to the
# host's root, by hostname(1): sethostname() is allowed to the namespace's root).
# The pause is a shell, PID 1 of the pod's PID namespace, that waits: the kernel
# gives PID 1 every process of the pod whose parent ends first (what a learner
# starts with & in the pod), and the shell's wait, for a sleep that never ends,
# waits for each of them too as it ends (wait(2) for any child), as Kubernetes'
# pause does; under a bare sleep they stayed zombies until the pod went. Its sleep
# ignores SIGTERM, as PID 1 does (the shell's ignored signals pass to it): a
# learner's pkill sleep on the node stops the containers, not the pod.
# Nothing waits for it: the file records unshare's PID, and
# the pause process is unshare's only child (netlab_pause_pid).
netlab_pause() {
  mnt=""; [ $# -lt 2 ] || mnt="--mount"
  [ -d "$NETLAB_DIR/pods/$1" ] || mkdir -p "$NETLAB_DIR/pods/$1" || return 1
  netlab_outlive nsenter --net="/run/netns/$1" unshare --uts --ipc --pid $mnt --fork --kill-child sh -c '{ echo "$0" >/proc/sys/kernel/hostname || hostname "$0"; } 2>/dev/null || exit; trap "" TERM; sleep infinity & wait' "$1"
  netlab_pid_write "$NETLAB_DIR/pods/$1/pause.pid" $!
}
netlab_pause_pid() {
  u=$(netlab_pid_read "$NETLAB_DIR/pods/$1/pause.pid") || { echo "pod $1 has no pause process on this node" >&2; return 1; }
  # Right after netlab_pause, unshare may not have forked yet, or its child may not have
  # made the pod's mounts private and set its hostname (no event says when): wait up to
  # 5 s for the child to start its sleep, which it does after both (its child before then
  # may be hostname). Until then a mount made in the pod would spread to the node's own
  # mounts (where / is shared, as systemd has it), and a responder would answer with the
  # node's hostname. The pause of a lab an older netlab made is unshare's child itself,
  # once it runs sleep. Read by the shell itself: no process per look.
  i=0
  while p=; c=; cm=
    read -r p _ 2>/dev/null <"/proc/$u/task/$u/children"
    [ -z "$p" ] || read -r c _ 2>/dev/null <"/proc/$p/task/$p/children"
    [ -z "$p" ] || read -r cm 2>/dev/null <"/proc/${'$'}{c:-$p}/comm"
    [ "$cm" != sleep ]; do
    [ -d "/proc/$u" ] && [ "$i" -lt 500 ] || { echo "the pause process of pod $1 is not running" >&2; return 1; }
    i=$((i + 1)); sleep 0.01
  done
  echo $p
}
# Kill every process in the pod's network namespace (pause, containers, listeners).
netlab_kill_pod() {
  pids=$(ip netns pids "$1" 2>/dev/null) && [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  rm -rf "$NETLAB_DIR/pods/$1"
  return 0
}
# Kill a process recorded in FILE (and its children: nsenter's and socat's), if it is still the one recorded.
netlab_kill_recorded() {
  if p=$(netlab_pid_read "$1"); then kill -KILL $(cat /proc/$p/task/$p/children 2>/dev/null) $p 2>/dev/null; fi
  rm -f "$1"
  return 0
}
# A container: a process that joins the pause process's namespaces (optionally chrooted).
netlab_container() {
  pause=$(netlab_pause_pid "$1") || return 1
  if [ $# -ge 3 ]; then
    netlab_outlive nsenter -t "$pause" -n -u -i -p -m chroot "$3" sleep infinity
    echo "$3" >"$NETLAB_DIR/pods/$1/c-$2.root"
  else
    netlab_outlive nsenter -t "$pause" -n -u -i -p sleep infinity
  fi
  netlab_pid_write "$NETLAB_DIR/pods/$1/c-$2.pid" $!
}
# Mount inside the pod's own mount namespace: the mount lives and dies with the pod.
netlab_pod_mount() {
  pause=$(netlab_pause_pid "$1") || return 1
  shift
  nsenter -t "$pause" -m mount "$@"
}
netlab_kill_container() { netlab_kill_recorded "$NETLAB_DIR/pods/$1/c-$2.pid"; }
# Run a command inside a pod (and container): netlab_in POD CONTAINER|- CMD...
netlab_in() {
  pause=$(netlab_pause_pid "$1") || return 127
  root=""
  [ "$2" = "-" ] || [ ! -f "$NETLAB_DIR/pods/$1/c-$2.root" ] || root=$(cat "$NETLAB_DIR/pods/$1/c-$2.root")
  shift 2
  # '--': the command is never one of nsenter's options ('exec a0 -- -t 1 sh' would enter PID 1).
  # $NETLAB_SIGNALS: empty, or what gives an interactive program its Ctrl-C (HOLD_TERMINAL_SIGNALS).
  if [ -n "$root" ]; then nsenter -t "$pause" -n -u -i -p -m -- $NETLAB_SIGNALS chroot "$root" "$@"; else nsenter -t "$pause" -n -u -i -p -- $NETLAB_SIGNALS "$@"; fi
}
# A TCP responder for verify: answers every connection at once with the pod's hostname
# (= pod name, read by the shell itself: no process of its own on a slow machine), then
# counts what the client sends until it closes its end, and says how many bytes came.
# socat ends 0.5 s after one side reaches EOF unless -t says otherwise. A client with
# nothing to send closes its side at once, so both ends wait longer (-t): a loaded VM
# can take more than 0.5 s to fork and start the answering shell, and the answer was lost.
# netlab_listen POD PORT RUN: RUN names one run of checks. Runs on one lab at once (a
# room's grading while a learner checks) each start and stop their own responder on
# the port: SO_REUSEPORT (reuseport) lets them listen side by side, the kernel gives
# each connection to one of them, and every one answers alike (so the wait below is
# for any responder on the port: another run's answers as this one's would). When one
# run's responder closes, connections still waiting in its queue go to another
# (tcp_migrate_req, Linux 5.14, per network namespace) instead of being reset. A
# responder an older netlab left (one record per port, no reuseport) is stopped first.
netlab_listen() {
  pause=$(netlab_pause_pid "$1") || return 1
  netlab_kill_recorded "$NETLAB_DIR/pods/$1/listen-$2.pid"
  # One process in the pod: its shell sets tcp_migrate_req (/proc/sys/net is the writer's
  # network namespace, the pod's), then becomes the responder.
  nsenter -t "$pause" -n -u -i -p sh -c 'echo 1 >/proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null; exec "$@"' sh \
    socat -t 5 "TCP-LISTEN:$2,fork,reuseaddr,reuseport" 'SYSTEM:read -r h </proc/sys/kernel/hostname; echo $h; exec wc -c' </dev/null >/dev/null 2>&1 &
  netlab_pid_write "$NETLAB_DIR/pods/$1/listen-$2-$3.pid" $!
  i=0
  until nsenter -t "$pause" -n ss -Hltn "sport = :$2" | grep -q .; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "the TCP responder on port $2 in pod $1 did not start (is socat installed?)" >&2; return 1; }
    sleep 0.05
  done
}
netlab_unlisten() { netlab_kill_recorded "$NETLAB_DIR/pods/$1/listen-$2-$3.pid"; }
# Run a command in a pod, or on the node itself when POD is "-".
netlab_at() {
  if [ "$1" = "-" ]; then shift; "$@"; else p=$1; shift; netlab_in "$p" - "$@"; fi
}
# Apply an iptables-restore input without flushing anything else (as kube-proxy does).
netlab_restore() {
  printf '%s' "$1" | iptables-restore -w --noflush
}
# verify's deadline (seconds since the epoch on this node; empty: none): checks not
# started by then are reported as such ("@@netlab check ID timeout") instead of run.
netlab_in_time() { [ -z "$NETLAB_DEADLINE" ] || [ "$(date +%s)" -lt "$NETLAB_DEADLINE" ]; }
# N connections to a Service; one line per connection with the name of the pod that answered, or "-".
# After NETLAB_GIVE_UP failed connections the check has failed (a Service that works
# answers every one): stop there. Each failure may wait for its connect timeout, and a
# Service with one dead endpoint would otherwise take half a minute of them.
NETLAB_GIVE_UP=${SERVICE_GIVE_UP}
netlab_service_check() {
  id=$1 pod=$2 address=$3 port=$4 n=$5 i=0 answered=0
  while [ "$i" -lt "$n" ] && netlab_in_time; do
    i=$((i + 1))
    # connect-timeout above the kernel's 1 s first SYN retransmission: one lost or slow SYN is retried, not failed.
    # -t 3: the answer may come late (netlab_listen).
    out=$(netlab_at "$pod" socat -T 3 -t 3 - "TCP:$address:$port,connect-timeout=3" </dev/null 2>/dev/null)
    # the answer's first line: the pod's name (a byte count may follow)
    out=${'$'}{out%%[!A-Za-z0-9_.-]*}
    if [ -n "$out" ]; then answered=$((answered + 1)); else out=-; fi
    echo "@@netlab answer $id $out"
    [ "$((i - answered))" -lt "$NETLAB_GIVE_UP" ] || { echo "@@netlab check $id 0"; return 0; }
  done
  if [ "$i" -lt "$n" ]; then echo "@@netlab check $id timeout"; else echo "@@netlab check $id 0"; fi
}
# traceroute's hops from POD to ADDRESS, numerically, one probe per hop, at most HOPS
# (6, or more in a lab with many routers: a path crosses each), all sent at once (-N):
# a path that stops costs one wait, not six (a broken lab's check took 12 s on its
# traceroute alone). Each router meets one probe. Probes are ICMP echo requests (-I):
# the target answers every probe that reaches it with an echo reply, which the kernel
# does not rate-limit as it does the port-unreachable errors of UDP probes (a second
# traceroute within a second then got no answer at all). A router's "time exceeded" is
# rate-limited too, per destination (net.ipv4.icmp_ratelimit: a burst of 6, then one a
# second): right after a check that used them up (a failing traceroute, a must-fail
# check's unreachables), a router the probe crossed stays silent, a '*' on a path that
# arrived. Such a path is traced once more, a second later.
# netlab_traceroute POD ADDRESS WAIT HOPS
netlab_traceroute() {
  out=$(netlab_hops "$@")
  rc=$?
  if [ "$rc" = 0 ] && printf '%s\n' "$out" | awk -v to="$2" \
    '$1 ~ /^[0-9]+$/ { if ($2 == "*") silent = 1; last = $2 } END { exit !(silent && last == to) }'; then
    echo "netlab: traced again a second later: a hop was silent on a path that arrived"
    sleep 1
    out=$(netlab_hops "$@")
    rc=$?
  fi
  printf '%s\n' "$out"
  return "$rc"
}
netlab_hops() { netlab_at "$1" traceroute -I -n -q 1 -N "$4" -w "$3" -m "$4" "$2" 2>&1; }
# One connectivity check, run in the pod's namespaces (or on the node: POD "-") with
# the node's own ping and socat (a container's rootfs may have neither); WAIT: seconds
# for an answer (or a connection).
# netlab_check ID ping|tcp POD ADDRESS WAIT [PORT [SOURCE_PORT|- [BYTES]]]
# netlab_check ID traceroute POD ADDRESS WAIT HOPS
netlab_check() {
  id=$1 kind=$2 pod=$3 address=$4 wait=$5 port="" bind="" bytes=0
  [ $# -lt 6 ] || port=$6
  [ $# -lt 7 ] || [ "$7" = - ] || bind=",sourceport=$7"
  [ $# -lt 8 ] || bytes=$8
  netlab_in_time || { echo "@@netlab check $id timeout"; return 0; }
  case $kind in
    # Two echo requests 0.2 s apart; ping exits 0 if either is answered. The first
    # packet to a pod behind VXLAN waits on ARP flooded over multicast, which a busy
    # underlay may drop once (seen on the QEMU VMs); a broken path answers neither.
    # An answered ping whose address the pod has itself (ip route get: local) was answered by the pod: said on
    # a line of its own, which verify weighs against the check's target.
    ping) out=$(netlab_at "$pod" ping -c 2 -i 0.2 -W "$wait" "$address" 2>&1) && {
      ! netlab_at "$pod" ip -o route get "$address" 2>/dev/null | grep -q '^local ' || out="$out
netlab: answered locally"
    } ;;
    # The answer is the pod's name, then the bytes the responder counted. A bulk client
    # sends BYTES and waits up to 5 s (-t) for the count after closing its side; if its
    # full-size packets are dropped, nothing moves for 5 s (-T) and no count comes. It
    # ends with a reset (linger=0), not a close that would retransmit for minutes.
    tcp)
      if [ "$bytes" = 0 ]; then
        out=$(netlab_at "$pod" socat -T 3 -t 3 - "TCP:$address:$port,connect-timeout=$wait$bind" </dev/null 2>&1)
      else
        out=$(head -c "$bytes" /dev/zero | netlab_at "$pod" socat -T 5 -t 5 - "TCP:$address:$port,connect-timeout=$wait$bind,linger=0" 2>&1)
      fi ;;
    traceroute) out=$(netlab_traceroute "$pod" "$address" "$wait" "$6") ;;
    *) out="unknown check $kind"; false ;;
  esac
  rc=$?
  echo "@@netlab check $id $rc"
  printf '%s\n' "$out" | sed "s/^/@@netlab out $id /"
}
# Delete a veth pair whose pod end never left the node (a failed up); once that end
# is in a pod, deleting the pod's namespace deletes the pair. /sys/class/net lists
# the interfaces of this node's own namespace.
netlab_del_unmoved() {
  [ ! -e "/sys/class/net/$2" ] || ip link del "$1"
}
# Journal a sysctl's value, then set it: down restores the value it had.
# (Read by sysctl, not by the shell's read: dash reads a byte at a time, and the
# kernel answers a sysctl file's read only at offset 0, so it would get one digit.)
# Setting net.ipv4.ip_forward also sets conf.all.accept_redirects, to its opposite
# (the kernel's inet_forward_change()): its value from before goes back with it,
# or a host that accepted no ICMP redirect would accept them after down.
netlab_sysctl() {
  old=$(sysctl -n "$1") || return 1
  also=""
  if [ "$1" = net.ipv4.ip_forward ]; then also=" $(sysctl -n net.ipv4.conf.all.accept_redirects)" || return 1; fi
  netlab_record "netlab_sysctl_restore $1 '$old' $2$also" || return 1
  sysctl -qw "$1=$2"
}
# Another lab on this node that set the sysctl $1 too (its journal puts it back):
# sets journal and other (the lab by its id; its directory is named by its short
# kernel name). Simulated nodes hold one lab each: never on them.
netlab_sysctl_other() {
  for journal in "$NETLAB_ROOT"/*/undo; do
    [ "$journal" != "$NETLAB_DIR/undo" ] && [ -f "$journal" ] || continue
    grep -q "^netlab_sysctl_restore $1 " "$journal" || continue
    dir=${'$'}{journal%/undo}
    other=$(cat "$dir/lab" 2>/dev/null) || other=${'$'}{dir##*/}
    return 0
  done
  return 1
}
# A sysctl is shared by everything on the node. down puts back the old value only
# if the sysctl still holds the one the lab set (whoever changed it since, Docker
# or a user, depends on the new value) and no other lab on the node set it too.
# netlab_sysctl_restore KEY OLD NEW [REDIRECTS]: only ip_forward's line has the
# fourth (set -u: read as ${'$'}{4-}, or the shell would end at a line without it).
netlab_sysctl_restore() {
  now=$(sysctl -n "$1") || return 1
  if [ "$now" != "$3" ]; then
    echo "@@netlab kept sysctl $1 is $now: the lab set it to $3 and something changed it since, so it is left as it is"
    return 0
  fi
  if netlab_sysctl_other "$1"; then
    # That lab needs it. If it came after this one (it found the value this lab
    # set), it takes over the value from before this lab, to put back when it goes.
    if grep -q "^netlab_sysctl_restore $1 '$3' " "$journal"; then
      sed -i "s|^netlab_sysctl_restore $1 '$3' \\([^ ]*\\).*|netlab_sysctl_restore $1 '$2' \\1${'$'}{4:+ $4}|" "$journal"
      echo "@@netlab kept sysctl $1 is left at $now: lab $other on this node needs it too, and will put back $2 when it goes"
    else
      echo "@@netlab kept sysctl $1 is left at $now: lab $other on this node needs it too"
    fi
    return 0
  fi
  # (the kernel changes what ip_forward's write changes only when its value changes)
  if [ "$2" != "$3" ]; then
    sysctl -qw "$1=$2" && { [ -z "${'$'}{4-}" ] || sysctl -qw "net.ipv4.conf.all.accept_redirects=$4"; }
  fi
}
# A challenge's fault that changes a node-wide setting (FORWARD's policy, a sysctl)
# saves the value it replaces: netlab_setting_save policy|sysctl NAME.
netlab_setting_get() {
  case $1 in
    policy) iptables -w -S "$2" | sed -n "s/^-P $2 //p" ;;
    sysctl) sysctl -n "$2" ;;
    *) return 2 ;;
  esac
}
netlab_setting_set() {
  case $1 in
    policy) iptables -w -P "$2" "$3" ;;
    sysctl) sysctl -qw "$2=$3" ;;
    *) return 2 ;;
  esac
}
# Where a fault keeps the value it replaces, under its run (a first line), as a
# restore that failed leaves it: netlab_setting_file KIND NAME.
netlab_setting_file() { echo "$NETLAB_DIR/fault-$1-$2"; }
netlab_setting_save() {
  v=$(netlab_setting_get "$1" "$2") && [ -n "$v" ] || { echo "cannot read $1 $2" >&2; return 1; }
  mkdir -p "$NETLAB_DIR" && printf '%s\n%s\n' "$NETLAB_RUN" "$v" >"$(netlab_setting_file "$1" "$2")" &&
    echo "@@netlab saved $v" # (for the mend that challenge reveal shows)
}
# Whether a fault of this run saved the value it replaces (a fault stopped before
# that changed nothing of it; a mend puts it back once), which it reads into
# saved_value (and the file's run into saved_run): another run's file, which a
# restore that failed left, is not.
netlab_setting_saved() {
  saved_run="" saved_value=""
  file=$(netlab_setting_file "$1" "$2")
  [ -f "$file" ] || return 1
  { read -r saved_run; read -r saved_value; } <"$file"
  # An older netlab's file holds the value alone: this run's if saved since the run began here.
  if [ -z "$saved_value" ]; then
    saved_value=$saved_run saved_run=""
    # (the run's record tested first: bash's -nt is true of a file beside one that is missing, dash's false)
    if [ -f "$NETLAB_DIR/run" ] && [ "$file" -nt "$NETLAB_DIR/run" ]; then saved_run=$NETLAB_RUN; fi
  fi
  [ "$saved_run" = "$NETLAB_RUN" ] && [ -n "$saved_value" ]
}
# Mending it: the value this run's fault saved goes back, only while the setting
# still holds the fault's value; if a learner or anything else changed it since,
# it is left as it is and said. With nothing saved (a mend before this one put it
# back) there is nothing to put back: a machine's own DROP policy (Docker's) is
# never taken for the fault's. netlab_setting_restore KIND NAME FAULT.
netlab_setting_restore() {
  netlab_setting_saved "$1" "$2" || return 0
  # (nothing read is a read that failed: iptables' status is lost in netlab_setting_get's pipe)
  now=$(netlab_setting_get "$1" "$2") && [ -n "$now" ] || return 1
  if [ "$now" = "$3" ]; then
    netlab_setting_set "$1" "$2" "$saved_value" || return 1
  else
    echo "@@netlab kept $1 $2 is $now, not the fault's $3: left as it is"
  fi
  rm -f "$file"
}
`;

/** The run a script acts for (apply and down scripts of an up); other scripts only read. */
export interface ScriptRun {
  id: string;
  /** "HOST:STATEDIR" of the controller, recorded on the node for whoever meets the lab there */
  from: string;
}

/**
 * A line of a script that runs a program in the user's terminal
 * (`netlab exec`, `capture`), whose Ctrl-C and Ctrl-\ are the program's to
 * act on. The kernel sends them to the terminal's whole foreground process
 * group: the shells and nsenter processes between netlab and the program too.
 * nsenter waits for its child without a handler, so it died of them, and the
 * program ran on without netlab, stopped by its next read of the terminal.
 * Here the script's shell ignores both, as do the processes it starts (an
 * ignored signal stays ignored across exec), and the program is started with
 * both back to their defaults: `$NETLAB_SIGNALS PROGRAM...`, or netlab_in,
 * which puts it before the program. A shell waits for the program (`sh -c
 * '"$@";exit'`, one word, as the variable is split into words): a program
 * that dies of the signal is exit 130 or 131, as a shell says it, where
 * nsenter, which cannot die of an ignored signal, would say 1. This comes
 * after the prelude, which empties NETLAB_SIGNALS for every other script. env
 * has --default-signal since coreutils 8.31 (2019); with an older one, the
 * signals are left as they were. (env's `--`: the program's name is never
 * one of env's options; a NAME=VALUE first is still an assignment, as env reads
 * it.)
 */
export const HOLD_TERMINAL_SIGNALS = `NETLAB_SIGNALS=; if env --default-signal=INT true 2>/dev/null; then trap '' INT QUIT; NETLAB_SIGNALS='sh -c "$@";exit netlab env --default-signal=INT --default-signal=QUIT --'; fi`;

/**
 * The script that runs a program in the user's terminal, and the options its
 * transport runs it with: the terminal's signals held for the program
 * (HOLD_TERMINAL_SIGNALS) and `terminal: true` (exec/transport.ts) go
 * together, so they are made together. The program runs on the node, or in a
 * pod (and one of its containers) by netlab_in, which gives it the signals
 * back itself (the lab's prelude comes first: netlab_in is one of its
 * functions); `before`: lines that run first (a check that the program is
 * there).
 */
export function terminalScript(
  argv: readonly string[],
  where: { lab?: string; pod?: { name: string; container?: string | undefined }; before?: string } = {},
): [string, { terminal: true }] {
  const { lab, pod, before } = where;
  const program = pod ? quoteArgv(inPod(argv, pod)) : `$NETLAB_SIGNALS ${quoteArgv(argv)}`;
  const lines = [
    ...(lab === undefined ? [] : [scriptPrelude(lab)]),
    HOLD_TERMINAL_SIGNALS,
    ...(before ? [before] : []),
  ];
  return [`${lines.join('\n')}\n${program}`, { terminal: true }];
}

/** A command in a pod's namespaces (one of its containers', or its pause's: `-`), by the prelude's netlab_in; on the node without a pod. */
export function inPod(
  argv: readonly string[],
  pod: { name: string; container?: string | undefined } | undefined,
): string[] {
  return pod ? ['netlab_in', pod.name, pod.container ?? '-', ...argv] : [...argv];
}

export function scriptPrelude(lab: string, run?: ScriptRun): string {
  const vars = [
    `NETLAB_ROOT=${NODE_STATE_ROOT}`,
    `NETLAB_LAB=${quoteArg(lab)}`,
    `NETLAB_DIR=${quoteArg(nodeStateDir(lab))}`,
    `NETLAB_RUN=${quoteArg(run?.id ?? '')}`,
    `NETLAB_RUN_FROM=${quoteArg(run?.from ?? '')}`,
    'NETLAB_DEADLINE=',
    'NETLAB_SIGNALS=',
  ];
  return `${vars.join('\n')}\n${FUNCTIONS}`;
}
