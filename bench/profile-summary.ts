/**
 * Where a CPU profile's time went, by layer: self time summed per npm package (node_modules/<pkg>),
 * per directory of our own code, Node's internals, garbage collection and idle.
 *
 *   BENCH_CPU_PROFILE=/tmp/prof npm run bench -- --only mini --rounds 1
 *   node --import @swc-node/register/esm-register bench/profile-summary.ts /tmp/prof/*.cpuprofile
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
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

for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const time = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const name = layer(byId.get(id)!);
    time.set(name, (time.get(name) ?? 0) + dt);
    total += dt;
  });
  const busy = total - (time.get('idle') ?? 0);
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy\n`);
  const rows = [...time.entries()].filter(([name]) => name !== 'idle').sort((a, b) => b[1] - a[1]);
  for (const [name, us] of rows.slice(0, 30)) {
    process.stdout.write(`  ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${name}\n`);
  }
}
