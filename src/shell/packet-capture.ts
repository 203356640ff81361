// Capturing packets inside a user namespace (netlab without root).
//
// tcpdump run as root gives root up once the device is open (Debian builds it
// --with-user=tcpdump), and `-Z root` still calls initgroups() in tcpdump up
// to 4.99.4: a user namespace that an unprivileged user mapped refuses
// setgroups() to everyone in it, so tcpdump exits before the first packet.
// Inside the lab's user namespace netlab therefore reads the packets with a
// few lines of Perl (perl-base is Essential on Debian and Ubuntu): a packet
// socket bound to the interface (its link type, and lo's packets once, as
// libpcap keeps them), each packet written as a pcap record with the kernel's
// own receive time (SIOCGSTAMP). tcpdump then
// reads that stream on the host as the user, who is not root there: it filters,
// counts and prints (or writes the pcap file) exactly as it does for root.

/**
 * Perl: packets of the interface named by its argument, as a pcap stream on
 * stdout, until stopped (timeout's SIGTERM, or ^C), after a whole record, or until the reader goes.
 */
const PCAP_WRITER = String.raw`use strict; use Socket;
my $dev = shift;
# A reader that has gone ends the stream (syswrite fails with EPIPE, below), not a signal.
$SIG{PIPE} = 'IGNORE';
# timeout's SIGTERM (or ^C) ends the stream after the record being written: a record cut short
# by the signal (a write to a full pipe is partial when a signal kills the writer) is a truncated
# dump file to tcpdump, which then fails. Perl runs the handler between two system calls.
my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
# All of a record, however the writes are split or interrupted (EINTR: 4); none of it once the reader is gone.
sub put {
  my ($data, $done) = (shift, 0);
  while ($done < length $data) {
    my $n = syswrite(STDOUT, $data, length($data) - $done, $done);
    if (defined $n) { $done += $n } elsif ($! != 4) { exit 0 }
  }
}
# AF_PACKET (17), SOCK_RAW, no protocol yet: nothing arrives before the bind below
socket(my $s, 17, SOCK_RAW, 0) or die "packet socket: $!\n";
# struct ifreq (name, then a union of 24 bytes): SIOCGIFINDEX gives the index, SIOCGIFHWADDR
# the hardware type (the first field of its sockaddr), in this network namespace (a pod's /sys
# is its node's: sysfs shows the namespace that mounted it)
my $ifr = pack('a16 x24', $dev);
ioctl($s, 0x8933, $ifr) or die "no interface $dev here\n";
my $index = unpack('x16 i', $ifr);
$ifr = pack('a16 x24', $dev);
ioctl($s, 0x8927, $ifr) or die "no hardware type for $dev: $!\n";
my $hwtype = unpack('x16 S', $ifr);
# Ethernet frames (ARPHRD_ETHER, and lo's, ARPHRD_LOOPBACK) are pcap's link type 1; a tunnel
# without a link header (ipip's ARPHRD_TUNNEL, ARPHRD_NONE) hands over bare IP: link type 101
my $linktype = ($hwtype == 768 || $hwtype == 0xFFFE) ? 101 : 1;
# struct sockaddr_ll: family, protocol (ETH_P_ALL, network order), ifindex, hatype, pkttype, halen, addr[8]
bind($s, pack('S n i S C C a8', 17, 3, $index, 0, 0, 0, '')) or die "bind to $dev: $!\n";
# The kernel stamps packets once a socket asks (SIOCGSTAMP): asked once here, every packet has its time.
my $tv = pack('l! l!', 0, 0);
ioctl($s, 0x8906, $tv);
$| = 1;
# pcap file header: magic, version 2.4, timezone, accuracy, snapshot length, link type
put(pack('L S S l L L L', 0xa1b2c3d4, 2, 4, 0, 0, 262144, $linktype));
# Wait for a packet, or for the reader to go: a pipe whose reader closed polls as an error,
# which select() reports as readable (the write end is never readable otherwise).
my $wait = '';
vec($wait, fileno($s), 1) = 1;
vec($wait, fileno(STDOUT), 1) = 1;
until ($stop) {
  # At most half a second: a signal that came between the check of $stop and the wait is seen then.
  next if select(my $ready = $wait, undef, undef, 0.5) <= 0;
  exit 0 if vec($ready, fileno(STDOUT), 1);
  my $from = recv($s, my $packet, 262144, 0);
  defined $from or $! == 4 ? next : die "recv: $!\n";
  # lo hands a packet sent to it twice, outgoing then incoming: libpcap keeps the incoming one
  next if $hwtype == 772 && unpack('x10 C', $from) == 4;
  ioctl($s, 0x8906, $tv);   # SIOCGSTAMP: when the kernel received it
  my ($sec, $usec) = unpack('l! l!', $tv);
  my $n = length $packet;
  put(pack('L L L L', $sec, $usec, $n, $n) . $packet);
}`;

/** The node-side command: the interface's packets as pcap on stdout, for at most `seconds`. */
export function pcapStreamCommand(dev: string, seconds: number): string[] {
  // `--`: what follows is the script's argument, never one of perl's switches.
  // --foreground: perl stays in the terminal's process group, where Ctrl-C reaches it (and it ends after
  // the record it is writing), as tcpdump does in capture's root path; without it, perl ends once its reader
  // goes instead.
  return ['timeout', '--foreground', String(seconds), 'perl', '-e', PCAP_WRITER, '--', dev];
}

/** tcpdump's arguments that read such a stream on the host: the count and the filter apply there. */
export function pcapReaderArgs(output: string[], count: number, filter: string[]): string[] {
  // `--`: the filter's words are an expression, never tcpdump's options.
  return ['-r', '-', ...output, '-c', String(count), '--', ...filter];
}
