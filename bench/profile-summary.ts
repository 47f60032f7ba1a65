/**
 * Where a CPU profile's time went, by layer: self time summed per npm package (node_modules/<pkg>),
 * per directory of our own code, Node's internals, garbage collection and idle.
 *
 *   BENCH_CPU_PROFILE=/tmp/prof npm run bench -- --only mini --rounds 1
 *   node --import @swc-node/register/esm-register bench/profile-summary.ts /tmp/prof/*.cpuprofile
 *
 * It also prints how busy each second of the profile was; `--from s --to s` sums only that window
 * (the measured run, without the warm-up registrations, which take the full login path).
 * `--attribute` charges Node's own frames (native, internals) to the nearest package or directory
 * of ours that called them: socket writes to pg or got, promise hooks to whoever made the promise.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** The layer a frame belongs to. */
function layer(node: Node): string {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'program (native, outside JS)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  const ours = /\/dist\/(src\/[^/]+)/.exec(url) ?? /\/(src\/[^/]+|bench\/[^/]+)/.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:') || url === '')
    return url ? `node:${url.slice(5).split('/')[0]}` : 'node (native)';
  return url;
}

const { values: window, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string', default: '0' },
    to: { type: 'string', default: 'Infinity' },
    attribute: { type: 'boolean', default: false },
  },
});

/** Node's own code (and frames without a URL): charged to its caller with --attribute. */
const isNodes = (name: string) => name.startsWith('node:') || name === 'node (native)';
const [from, to] = [Number(window.from) * 1e6, Number(window.to) * 1e6];

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, Node>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const chargedTo = (node: Node): string => {
    for (let frame: Node | undefined = node; frame; frame = parentOf.get(frame.id)) {
      const name = layer(frame);
      if (!isNodes(name)) return name;
    }
    return layer(node);
  };
  const time = new Map<string, number>();
  const busyPerSecond: number[] = [];
  let total = 0;
  let clock = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    clock += dt;
    const name = window.attribute ? chargedTo(byId.get(id)!) : layer(byId.get(id)!);
    const second = Math.floor(clock / 1e6);
    if (name !== 'idle') busyPerSecond[second] = (busyPerSecond[second] ?? 0) + dt;
    if (clock < from || clock > to) return;
    time.set(name, (time.get(name) ?? 0) + dt);
    total += dt;
  });
  const busy = total - (time.get('idle') ?? 0);
  const seconds = [...busyPerSecond].map((us, s) => `${s}:${Math.round((us ?? 0) / 1e4)}`).join(' ');
  process.stdout.write(`${file}\n  busy % per second: ${seconds}\n`);
  process.stdout.write(
    `  from ${window.from} s to ${window.to} s: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy\n`,
  );
  const rows = [...time.entries()].filter(([name]) => name !== 'idle').sort((a, b) => b[1] - a[1]);
  for (const [name, us] of rows.slice(0, 30)) {
    process.stdout.write(`  ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${name}\n`);
  }
}
