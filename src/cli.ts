// The command line. Command modules are imported only when their command runs,
// so `netlab --help` loads commander and nothing else.
import { Command, CommanderError, Option } from 'commander';

const EXAMPLES = `
Examples:
  netlab up bridge --verify              build the bundled bridge lab on simulated nodes and check it
  netlab plan vxlan                      every command, per node and phase, with why
  netlab exec a0 -- ping -c1 10.200.0.3  run a command inside pod a0
  netlab verify bridge                   run the lab's connectivity checks again
  netlab down bridge                     remove everything the lab created
  netlab labs                            the bundled labs (a lab file works wherever a name does)
Simulated labs need no sudo (each in a user namespace of yours); a lab brought up with sudo is
root's, and sudo netlab acts on it. Machines over SSH need root there, not here.`;

type Action = (...args: never[]) => Promise<number> | number;

/** Runs a command and maps errors to exit codes: 2 usage/input, 1 failure, else an internal error. */
function run(load: () => Promise<Action>) {
  return async (...args: unknown[]) => {
    const action = await load();
    process.exitCode = await (action as (...a: unknown[]) => Promise<number> | number)(...args);
  };
}

/** A grading room command's options (status, watch, serve): groups graded at once, and each one's deadline. */
function gradingOptions(command: Command): Command {
  return command
    .option('--parallel <n>', 'groups graded at once (default 16)')
    .option(
      '--timeout <seconds>',
      "seconds one group's grading may take before it counts as unreachable (default 50; its checks stop at 30, or at this if shorter)",
    );
}

/**
 * The command line. `only`: the command a run names (its first argument), the one command made then:
 * making all of them is 2 ms of every start. Without it, or where it names none, all are made (help,
 * `help X`, a misspelt command's suggestion).
 */
export function buildCli(only?: string): Command {
  const wanted = (name: string) => only === undefined || only === name;
  const program = new Command('netlab')
    .description('Kubernetes pod networking labs from plain Linux commands: build, break, inspect, tear down.')
    .version('0.1.0')
    .showHelpAfterError('(see `netlab --help`)')
    .addHelpText('after', EXAMPLES)
    // Before the subcommands are made: they copy it, so their usage errors exit 2 too.
    .exitOverride();

  if (wanted('validate')) {
    program
      .command('validate')
      .description(
        'check lab files and report every problem with file:line:column (exit 2 if any), and warn where a valid lab is surely not meant (exit 0)',
      )
      .argument('<lab...>', 'lab files or bundled lab names')
      .option('--json', 'machine-readable results')
      .option('--strict', 'warnings are errors (exit 2)')
      .action(run(async () => (await import('./commands/info.js')).validateCommand as Action));
  }

  const targetOptions = (command: Command) =>
    command
      .option(
        '--ssh-config <file>',
        'run on machines over SSH: the lab nodes are Host aliases of this OpenSSH config (`vagrant ssh-config > file`)',
      )
      .option('--vagrant', 'run on the Vagrant VMs of this directory, via `vagrant ssh-config`')
      .option('--vagrant-dir <dir>', 'run on the Vagrant VMs of DIR (implies --vagrant)')
      .option(
        '--inventory <file>',
        "run on machines listed in netlab's inventory file (node → host, port, user, identity, underlay)",
      )
      .option(
        '--instance <name>',
        'one of several copies of the lab (`--instance g2`, or `vxlan@g2`): each runs apart, on simulated nodes side by side',
      );

  if (wanted('plan')) {
    targetOptions(
      program
        .command('plan')
        .description('print every command the lab runs, per node and phase, each with why')
        .argument('<lab>', 'lab file, lab that is up, or bundled lab name')
        .option('--json', 'machine-readable plan')
        .option('--explain', 'also explain every command, part by part'),
    ).action(run(async () => (await import('./commands/info.js')).planCommand as Action));
  }

  if (wanted('up')) {
    targetOptions(
      program
        .command('up')
        .description('build a lab on simulated nodes (no sudo needed) or on machines over SSH; rolls back on failure')
        .argument('<lab>', 'lab file, or bundled lab name (netlab labs)')
        .option('--verify', 'run the checks once the lab is up')
        .option('--keep', 'on failure keep what was created, for debugging')
        .option('--recreate', 'if the lab is already up, take it down first')
        .option('--explain', 'print the plan with every command explained first')
        .option(
          '--step [unit]',
          'one phase (--step, --step=phase) or one command (--step=command) at a time: show it, wait for Enter, then show what changed',
        )
        .option('--yes', 'with --step: do not wait for Enter')
        .option(
          '--json',
          'at the end, the lab as it is up (and the checks, with --verify) as JSON; progress on stderr',
        ),
    ).action(async (lab: string, given: Record<string, unknown>) => {
      const { labFileOf, instanceOf } = await import('./commands/common.js');
      const file = labFileOf(lab);
      const instance = instanceOf(lab, given.instance as string | undefined);
      const options = { ...given, ...(instance === undefined ? {} : { instance }) };
      // Over SSH the login to the nodes starts first, and `up` loads while it runs. Its start is awaited: the
      // import below would otherwise evaluate up's modules (about 8 ms) between the steps of connectEarly,
      // before the login's ssh processes were started.
      const early = (await import('./lifecycle/connect-early.js')).connectEarly(file, options);
      await early;
      const { upCommand } = await import('./commands/up.js');
      if (process.env.NETLAB_PROFILE) (await import('./profile.js')).mark("load up's modules");
      process.exitCode = await upCommand(file, options, early);
    });
  }

  if (wanted('verify')) {
    targetOptions(
      program
        .command('verify')
        .description('run the connectivity checks of a lab that is up (exit 1 if any fails)')
        .argument('[lab]', 'lab name or file (default: the only lab that is up)')
        .option('--json', 'machine-readable results')
        // One value each (the lab stays positional: `--check 1 vxlan`), a comma list or repeated.
        .option(
          '--check <n>',
          'run only these checks (numbers as listed by verify): --check 2, --check 1,3, or repeated',
          (value: string, previous: string[] = []) => [...previous, ...value.split(',')],
        )
        .option(
          '--connections <n>',
          "connections per service check, and per tcp check to a NodePort or a ClusterIP (default: the lab's, else 60, or more for a Service of 5 or more backends; 21 for a tcp check to two backends)",
        )
        .option('--timeout <seconds>', 'stop the checks after this long; those not run are reported (default 120)')
        .option('--evidence <amount>', 'summary (default: a long table is counted and sampled) or full'),
    ).action(run(async () => (await import('./commands/verify.js')).verifyCommand as Action));
  }

  if (wanted('challenge')) {
    // `challenge LAB` is `challenge list LAB` (the default subcommand); the
    // parent has no options of its own, so each subcommand's --json is its own.
    const challenge = program
      .command('challenge')
      .description("graded break-and-fix exercises: list a lab's challenges, or start, check, hint, reveal, stop one")
      .addHelpText(
        'after',
        `
Examples:
  netlab challenge list vxlan                     the vxlan lab's challenges (also: netlab challenge vxlan)
  netlab challenge start vxlan wrong-vni          break the lab (the fault is not shown)
  netlab challenge start vxlan --random --seed 7  a random one, the same for the same seed
  netlab challenge check                          grade the fix: the goal checks must pass again
  netlab challenge hint                           the next hint
  netlab challenge reveal                         the fault, and the commands that mend it
  netlab challenge stop                           mend the fault and end the challenge
  netlab challenge faults vxlan                   every fault a challenge of the lab may name
Run them as the lab was brought up: a lab brought up with sudo is root's, and so is its challenge.`,
      );
    challenge
      .command('list', { isDefault: true })
      .description("a lab's challenges (the default: `netlab challenge LAB` is the same)")
      .argument('[lab]', 'lab file, lab that is up, or bundled lab')
      .option('--json', 'machine-readable list')
      .action(async (lab: string | undefined, options: { json?: boolean }) => {
        if (lab === undefined) {
          challenge.help();
          return;
        }
        process.exitCode = await (await import('./commands/challenge.js')).challengeListCommand(lab, options);
      });
    targetOptions(
      challenge
        .command('start')
        .description('break a lab that is up with one of its challenges, without saying how')
        .argument('<lab>', 'lab name or file')
        .argument('[id]', 'the challenge (see `netlab challenge list LAB`)')
        .option('--random', 'pick one at random')
        .option('--seed <n>', 'with --random: the same seed picks the same challenge')
        .option('--json', 'machine-readable output'),
    ).action(run(async () => (await import('./commands/challenge.js')).challengeStartCommand as Action));
    targetOptions(
      challenge
        .command('check')
        .description("run the challenge's goal checks: solved or not (exit 1 if not)")
        .argument('[lab]', 'lab name or file (default: the lab with an active challenge)')
        .option(
          '--connections <n>',
          "connections per service check, and per tcp check to a NodePort or a ClusterIP (default: the lab's)",
        )
        .option('--json', 'machine-readable output'),
    ).action(run(async () => (await import('./commands/challenge.js')).challengeCheckCommand as Action));
    for (const [name, description, action] of [
      ['hint', 'the next hint of the active challenge', 'challengeHintCommand'],
      ['reveal', 'the fault of the active challenge, and the commands that mend it', 'challengeRevealCommand'],
    ] as const)
      targetOptions(
        challenge
          .command(name)
          .description(description)
          .argument('[lab]', 'lab name or file (default: the lab with an active challenge)')
          .option('--json', 'machine-readable output'),
      ).action(run(async () => (await import('./commands/challenge.js'))[action] as Action));
    targetOptions(
      challenge
        .command('stop')
        .description('mend the fault of the active challenge and end it')
        .argument('[lab]', 'lab name or file (default: the lab with an active challenge)')
        .option('--json', 'machine-readable output'),
    ).action(run(async () => (await import('./commands/challenge.js')).challengeStopCommand as Action));
    challenge
      .command('faults')
      .description('every fault a challenge of this lab may name (kind:node:subject)')
      .argument('<lab>', 'lab file, lab that is up, or bundled lab')
      .option('--json', 'machine-readable list')
      .action(run(async () => (await import('./commands/challenge.js')).challengeFaultsCommand as Action));
  }

  if (wanted('attach')) {
    targetOptions(
      program
        .command('attach')
        .description(
          "know a lab that another controller built on machines you reach, from the nodes' own records: look, verify, trace and check its challenge; changing it stays with its owner",
        )
        .argument('<lab>', 'the lab (its name, or name@instance)')
        .option('--json', 'what was attached, as JSON'),
    ).action(run(async () => (await import('./commands/attach.js')).attachCommand as Action));
  }

  if (wanted('detach')) {
    targetOptions(
      program
        .command('detach')
        .description('forget a lab attached here; nothing changes on its nodes')
        .argument('<lab>', 'the lab (its name, or name@instance)')
        .option('--json', 'what was detached, as JSON'),
    ).action(run(async () => (await import('./commands/attach.js')).detachCommand as Action));
  }

  if (wanted('down')) {
    targetOptions(
      program
        .command('down')
        .description('remove everything a lab created, from its recorded state; safe to repeat')
        .argument('[lab]', 'lab name or file (default: the only lab that is up)')
        .option('-v, --verbose', 'show undo commands that found nothing to undo')
        .option(
          '--run <id>',
          "with no state here: take down this run of the lab from the nodes' own records (the id a refusal names)",
        )
        .option('--json', 'what was found and removed on each node, as JSON; progress on stderr'),
    ).action(run(async () => (await import('./commands/down.js')).downCommand as Action));
  }

  if (wanted('status')) {
    targetOptions(
      program
        .command('status')
        .description(
          'labs that are up, their nodes and pods, and any drift of the live kernel state from what netlab made (exit 1 on drift)',
        )
        .argument('[lab]', 'lab name or file (default: every lab that is up)')
        .option('--json', 'machine-readable status'),
    ).action(run(async () => (await import('./commands/status.js')).statusCommand as Action));
  }

  if (wanted('exec')) {
    targetOptions(
      program
        .command('exec')
        .description('run a command inside a pod (or pod/container), on its node, or on a node itself')
        .argument('<target>', 'pod, pod/container or node')
        .argument('[command...]', 'the command, after --')
        .option('--lab <name>', 'the lab, when several labs are up'),
    ).action(run(async () => (await import('./commands/exec.js')).execCommand as Action));
  }

  if (wanted('graph')) {
    targetOptions(
      program
        .command('graph')
        .description('the topology: nodes, pods, veth pairs, bridges, tunnels, underlay (live interface names when up)')
        .argument('<lab>', 'lab that is up, lab file, or bundled lab name')
        .option('--format <format>', 'text (default), mermaid, dot, svg or json')
        .option('--json', 'the same as --format json: boxes and edges as data'),
    ).action(run(async () => (await import('./commands/workshop.js')).graphCommand as Action));
  }

  if (wanted('show')) {
    targetOptions(
      program
        .command('show')
        .description("a node's or pod's tables, with netlab's objects highlighted")
        .argument('<target>', 'node or pod')
        .argument('[table]', 'links (default), routes, neigh, fdb, iptables, conntrack')
        .option('--lab <name>', 'the lab, when several labs are up')
        .option('--json', "the tables as data (iproute2's own JSON where it has one)"),
    ).action(run(async () => (await import('./commands/workshop.js')).showCommand as Action));
  }

  if (wanted('capture')) {
    targetOptions(
      program
        .command('capture')
        .description(
          'tcpdump on a node or pod while you send traffic; VXLAN and IP-in-IP are decoded (outer and inner headers)',
        )
        .argument('<target>', 'node or pod')
        .argument('[iface]', 'interface (default: the node underlay, or the pod interface)')
        .option('--count <n>', 'stop after N packets (default 10)')
        .option('--timeout <seconds>', 'stop after this long (default 15)')
        // The old spelling: every command's deadline is --timeout now.
        .addOption(new Option('--seconds <n>').hideHelp())
        .option('--filter <expr>', 'a tcpdump filter, e.g. "icmp"')
        .option(
          '-w, --write <file>',
          'write the packets as pcap to FILE (yours when run with sudo), or to stdout with -w - (| wireshark -k -i -)',
        )
        .option('--lab <name>', 'the lab, when several labs are up'),
    ).action(run(async () => (await import('./commands/workshop.js')).captureCommand as Action));
  }

  if (wanted('trace')) {
    targetOptions(
      program
        .command('trace')
        .description(
          'the hop-by-hop path of a packet from the live tables: routes, neighbours, bridge FDB, VXLAN/IPIP outer headers, Service DNAT; where it breaks and why',
        )
        .argument('<from>', 'pod, pod/container or node')
        .argument('<to>', 'pod, node, Service name or IPv4 address')
        .option('--port <port>', 'trace a TCP connection to this port (default: ICMP; a Service: its port)')
        .option(
          '--size <bytes>',
          'the IP packet size (68-65535): says where a packet that large meets too small an MTU',
        )
        .option(
          '--no-send',
          'do not send one packet first (by default trace sends one, so the kernel learns ARP and FDB entries)',
        )
        .option('--json', 'machine-readable hops')
        .option('--lab <name>', 'the lab, when several labs are up')
        .addHelpText(
          'after',
          `
Examples:
  netlab trace a0 a1                       pod to pod (vxlan lab: veth, bridge, vxlan0, outer header, remote node)
  netlab trace a0 web                      pod to a Service: which endpoint DNAT picked
  netlab trace node-1 node-0 --port 30080  a NodePort from another node
  netlab trace a0 a1 --size 1450           does a full-size packet fit every link on the way? (MTU)`,
        ),
    ).action(run(async () => (await import('./commands/workshop.js')).traceCommand as Action));
  }

  if (wanted('labs')) {
    program
      .command('labs')
      .description('the bundled labs, or one lab with its exercises')
      .argument('[lab]', 'a bundled lab name, or a lab file')
      .option('--json', 'machine-readable list')
      .action(run(async () => (await import('./commands/info.js')).labsCommand as Action));
  }

  if (wanted('doctor')) {
    targetOptions(
      program
        .command('doctor')
        .description(
          'is this host (or are the machines of a target) ready? every tool, kernel feature and iptables extension the labs need, and what to install',
        )
        .argument('[lab...]', 'labs to check for (default: every bundled lab)')
        .option(
          '--install',
          'install the missing packages with apt-get (says what it runs first): on this host, or on each machine of the target that misses one (asks first)',
        )
        .option('--yes', 'with --install on the machines of a target: do not ask (the commands are still printed)')
        .option('--tests', "also what the test tiers need (`sudo npm test`; CI's setup)")
        .option('--json', 'machine-readable findings')
        .addHelpText(
          'after',
          `
Examples:
  netlab doctor                              is this host ready for every bundled lab?
  sudo netlab doctor --install bridge        install what the bridge lab needs, then: sudo netlab up bridge --verify
  netlab doctor vxlan --vagrant              are the workshop's Vagrant VMs ready for the vxlan lab?
  netlab doctor vxlan --vagrant --install    install what each VM misses for it (asks first; --yes does not)
  sudo netlab doctor --install --tests       everything \`sudo npm test\` needs`,
        ),
    ).action(run(async () => (await import('./commands/doctor.js')).doctorCommand as Action));
  }

  if (wanted('room')) {
    const room = program
      .command('room')
      .description(
        "an instructor's room: every group's copy of a lab built, broken by a schedule of challenges, graded live, taken down",
      )
      .addHelpText(
        'after',
        `
A room file (examples/net101.yaml is one) names the lab, the groups (each an instance of the lab: \`--instance GROUP\` reaches it) and the schedule:
  room: net101
  lab: vxlan
  groups:
    g1: { simulated: true }
    g3: { ssh-config: groups/g3.ssh }
  schedule:
    - { challenge: wrong-vni, minutes: 20, hints: [5, 10] }

Examples:
  netlab room validate examples/net101.yaml              every problem of the room file and its lab
  sudo netlab room up examples/net101.yaml               build every group's lab, 4 at a time
  sudo netlab room start examples/net101.yaml            the schedule's next challenge, in every group
  sudo netlab room watch examples/net101.yaml            the scoreboard, graded every 5 s (Ctrl-C ends it)
  sudo netlab room serve examples/net101.yaml            the scoreboard as a web page on http://127.0.0.1:8088/
  sudo netlab room hint examples/net101.yaml --group g2  one more hint for g2 now
  sudo netlab room reset examples/net101.yaml g2         build g2's lab again and make the challenge in it again
  sudo netlab room results examples/net101.yaml --csv    every group × challenge: times, hints, resets
  sudo netlab room down examples/net101.yaml             every group's lab down (the results stay)`,
      );
    const roomCommand = (name: string, description: string) =>
      room
        .command(name)
        .description(description)
        .argument('<room>', 'the room file')
        .option('--json', name === 'watch' ? 'a board per grading round, one JSON document per line' : 'as JSON');
    roomCommand(
      'validate',
      'check a room file and its lab: every problem with file:line:column (exit 2 if any)',
    ).action(run(async () => (await import('./commands/room-validate.js')).validateRoomCommand as Action));
    roomCommand(
      'up',
      'build the lab in every group; a group already up is left as it is, a group that fails is rolled back',
    )
      .option('--parallel <n>', 'groups built at once (default 4)')
      .action(run(async () => (await import('./commands/room.js')).roomUpCommand as Action));
    roomCommand(
      'start',
      "make the schedule's next challenge (or the one named) in every group, each at its own landing",
    )
      .argument('[challenge]', 'a challenge of the lab (default: the next of the schedule)')
      .option('--parallel <n>', 'groups at once (default 4)')
      .action(run(async () => (await import('./commands/room.js')).roomStartCommand as Action));
    gradingOptions(
      roomCommand(
        'status',
        'grade every group once and print the scoreboard (exit 1 if a group is down or unreachable)',
      ),
    ).action(run(async () => (await import('./commands/room.js')).roomStatusCommand as Action));
    gradingOptions(
      roomCommand(
        'watch',
        'the scoreboard in the terminal, every group graded again every few seconds, until Ctrl-C',
      ).option('--every <seconds>', 'seconds between gradings (default 5)'),
    ).action(run(async () => (await import('./commands/room.js')).roomWatchCommand as Action));
    gradingOptions(
      roomCommand(
        'serve',
        'the scoreboard as a web page (and its JSON at /board.json), every group graded every few seconds',
      )
        .option('--listen <addr:port>', 'where the page is served (default 127.0.0.1:8088; 0.0.0.0:8088 for the room)')
        .option('--every <seconds>', 'seconds between gradings (default 5)'),
    ).action(run(async () => (await import('./commands/room.js')).roomServeCommand as Action));
    roomCommand('hint', "unlock the running challenge's next hint now (the schedule unlocks them by time too)")
      .option('--group <group>', 'for this group only (default: every group)')
      .action(run(async () => (await import('./commands/room.js')).roomHintCommand as Action));
    roomCommand(
      'reset',
      "build a group's lab again and make the running challenge in it again (its solve is cleared, the reset counted)",
    )
      .argument('<group>', 'the group')
      .action(run(async () => (await import('./commands/room.js')).roomResetCommand as Action));
    roomCommand('results', 'every group × challenge with times, hints, resets and attempts, from the grading log')
      .option('--csv', 'as CSV (RFC 4180)')
      .action(run(async () => (await import('./commands/room.js')).roomResultsCommand as Action));
    roomCommand('down', "take every group's lab down; the room's log and results stay")
      .option('--parallel <n>', 'groups at once (default 4)')
      .action(run(async () => (await import('./commands/room.js')).roomDownCommand as Action));
  }

  if (wanted('schema')) {
    program
      .command('schema')
      .description('print the JSON Schema of lab files, or of room files (for yaml-language-server)')
      .option('--room', 'the JSON Schema of room files (a workshop: one lab, many groups, a schedule)')
      .addHelpText(
        'after',
        `
Examples:
  netlab schema           the lab files' JSON Schema: save it (netlab schema > lab.schema.json), then
                          begin a lab file with "# yaml-language-server: $schema=lab.schema.json"
  netlab schema --room    the room files' JSON Schema, used the same way (room.schema.json)`,
      )
      .action(run(async () => (await import('./commands/info.js')).schemaCommand as Action));
  }

  // A usage error points at the help of the command it is in. `netlab exec a0
  // ping -c1 X` reads -c1 as netlab's own option: exec's say where the command's options go.
  const usageHint = (command: Command, path: string): void => {
    if (path)
      command.showHelpAfterError(
        `(see \`netlab ${path} --help\`${path === 'exec' ? '; the command and its options go after --: netlab exec a0 -- ping -c1 10.200.0.3' : ''})`,
      );
    for (const sub of command.commands) usageHint(sub, `${path} ${sub.name()}`.trim());
  };
  usageHint(program, '');
  // A NETLAB_STATE_DIR (or a user's XDG_STATE_HOME) another user could write is refused before any command
  // runs (after its arguments are read: a usage error or --help comes first), whatever it would read there.
  program.hook('preAction', async () => {
    if (process.env.NETLAB_STATE_DIR || (process.env.XDG_STATE_HOME && process.getuid?.() !== 0))
      (await import('./state/store.js')).refuseUnsafeStateDir();
  });

  return program;
}

/** The command line for a run: the command its first argument names alone, where it names one. */
function commandLineOf(argv: readonly string[]): Command {
  const first = argv[2];
  if (first !== undefined && !first.startsWith('-')) {
    const program = buildCli(first);
    if (program.commands.length > 0) return program;
  }
  return buildCli();
}

/**
 * `netlab help challenge start` is `netlab challenge start --help`: commander's help command goes one level
 * down only, and showed challenge's help. A command it does not know is left to commander (exit 2).
 */
export function nestedHelp(argv: readonly string[]): readonly string[] {
  if (argv[2] !== 'help' || argv.length < 5 || buildCli(argv[3]).commands.length === 0) return argv;
  return [argv[0]!, argv[1]!, ...argv.slice(3), '--help'];
}

/**
 * `--step` takes an optional unit (--step=command); written bare before the
 * lab file (`up --step labs/x.yaml`), commander would take the file for the
 * unit. A bare --step not followed by a unit is --step=phase.
 */
export function withStepUnit(argv: readonly string[]): string[] {
  return argv.map((arg, i) =>
    arg === '--step' && !['phase', 'command'].includes(argv[i + 1] ?? '') ? '--step=phase' : arg,
  );
}

export async function main(argv: string[]): Promise<void> {
  // profile.js is in the commands' bundle (scripts/bundle.mjs): profiled, both bundles are loaded here.
  if (process.env.NETLAB_PROFILE) (await import('./profile.js')).mark('load the command line and the commands');
  const stdoutFailed = watchStdout();
  const args = nestedHelp(argv);
  const program = commandLineOf(args);
  try {
    await program.parseAsync(withStepUnit(args));
  } catch (error) {
    process.exitCode = await reportError(error, argv);
  }
  await reportStdoutFailure(stdoutFailed);
}

/**
 * A write to stdout that fails is seen here, for every command: the command
 * goes on to its end (a lab half made is not left behind because `| head`
 * stopped reading), its later output goes nowhere, and `reportStdoutFailure`
 * says what became of it.
 */
function watchStdout(): () => NodeJS.ErrnoException | undefined {
  let failure: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= error;
  });
  return () => failure;
}

/**
 * Once the last write is through: a reader that went away (EPIPE: `netlab
 * plan x | head`) is no error, the command's own status stands; any other
 * write error (ENOSPC: `> /dev/full`) lost output, so it is one line and exit 1.
 */
async function reportStdoutFailure(failed: () => NodeJS.ErrnoException | undefined): Promise<void> {
  if (!process.stdout.destroyed) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  const failure = failed();
  if (!failure || failure.code === 'EPIPE') return;
  process.stderr.write(`netlab: cannot write output: ${failure.message}\n`);
  process.exitCode = 1;
}

/** The command line asks for --json (among netlab's own arguments: after `--` they are a program's). */
function wantsJson(argv: readonly string[]): boolean {
  const own = argv.slice(2);
  const end = own.indexOf('--');
  return (end < 0 ? own : own.slice(0, end)).includes('--json');
}

async function reportError(error: unknown, argv: readonly string[]): Promise<number> {
  if (error instanceof CommanderError) {
    // help and version also end here, with exit code 0
    return error.exitCode === 0 ? 0 : 2;
  }
  let errors: typeof import('./errors.js');
  try {
    errors = await import('./errors.js');
  } catch {
    // The commands' bundle did not load (cut short, unreadable): what failed, as V8 wrote it.
    process.stderr.write(`netlab: internal error, please report it with the lines below\n${internalError(error)}\n`);
    return 70;
  }
  const { UsageError, RunError, escapeControls } = errors;
  if (error instanceof UsageError || error instanceof RunError) {
    process.stderr.write(`netlab: ${escapeControls(error.message)}\n`);
    if (wantsJson(argv)) (await import('./json-output.js')).printJsonError(error);
    return error.exitCode;
  }
  const { sourceStack } = await import('./os/source-stack.js');
  process.stderr.write(
    `netlab: internal error, please report it with the lines below\n${internalError(error, sourceStack)}\n`,
  );
  return 70;
}

/** An internal error's stack (its places mapped, where `map` is given), or the error itself where it has none. */
function internalError(error: unknown, map = (stack: string) => stack): string {
  const stack = (error as Error)?.stack;
  return stack ? map(stack) : String(error);
}
