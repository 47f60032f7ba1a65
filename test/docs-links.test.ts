import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';

/**
 * Every relative link in the repository's Markdown (README*.md, docs/, examples/, and any other
 * .md outside the folders below) points to a file or folder that exists, and a `#anchor` to a
 * heading of the Markdown file it names. A new file (a translated README) is picked up by itself.
 */
const ROOT = path.resolve('.');
const SKIPPED = new Set(['node_modules', 'dist', '.git', '.data', 'test-artifacts', 'coverage']);

function markdownFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED.has(entry.name) ? [] : markdownFiles(full);
    return entry.isFile() && entry.name.endsWith('.md') ? [full] : [];
  });
}

/** The text outside fenced code blocks and inline code spans, where Markdown makes links. */
function prose(markdown: string): string {
  return markdown
    .replace(/^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\2[`~]*[ \t]*$/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, '');
}

/** Link targets: inline `[text](target "title")`, `![alt](target)` and reference definitions `[id]: target`. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+["'(][^)]*)?\)/g)].map((m) => m[1]!);
  const definitions = [...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)].map((m) => m[1]!);
  return [...inline, ...definitions].map((target) => target.replace(/^<|>$/g, ''));
}

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\2[`~]*[ \t]*$/gm, '');
  for (const [, heading] of withoutFences.matchAll(/^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = heading!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '');
    const slug = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** The file or folder a relative link of `file` names (GitHub: `/path` from the repository's root). */
function resolve(file: string, target: string): string {
  const rawPath = target.split('#', 1)[0]!;
  if (rawPath === '') return file;
  return path.join(rawPath.startsWith('/') ? ROOT : path.dirname(file), decodeURI(rawPath));
}

/** What is wrong with one relative link of `file`, or null when it resolves. */
function problemWith(file: string, target: string): string | null {
  const anchor = target.split('#', 2)[1];
  const wanted = resolve(file, target);
  if (path.relative(ROOT, wanted).startsWith('..')) return 'outside the repository';
  if (!existsSync(wanted)) return 'no such file';
  if (anchor && wanted.endsWith('.md') && statSync(wanted).isFile()) {
    if (!anchorsOf(readFileSync(wanted, 'utf8')).has(decodeURIComponent(anchor).toLowerCase())) {
      return `no heading #${anchor} in ${path.relative(ROOT, wanted)}`;
    }
  }
  return null;
}

/**
 * Of these existing paths, those git ignores (a build output, a local .env): there locally, not in
 * the repository. None when git cannot tell (no .git, as in an unpacked tarball).
 */
function ignoredByGit(paths: string[]): Set<string> {
  if (paths.length === 0) return new Set();
  const result = spawnSync('git', ['check-ignore', '--stdin', '-z'], {
    cwd: ROOT,
    input: paths.join('\0'),
    encoding: 'utf8',
  });
  if (result.status !== 0) return new Set(); // 1: none ignored; 128: not a repository
  return new Set(result.stdout.split('\0').filter(Boolean));
}

const isRelative = (target: string) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('//');

describe('links in the Markdown files', () => {
  const files = markdownFiles();

  it('finds the README and the docs', () => {
    const names = files.map((f) => path.relative(ROOT, f));
    expect(names).toEqual(expect.arrayContaining(['README.md', path.join('docs', 'emulator.md')]));
  });

  it.each(files.map((f) => [path.relative(ROOT, f), f]))(
    '%s: every relative link points to a file (and heading) that exists',
    (_name, file) => {
      const targets = linkTargets(readFileSync(file, 'utf8')).filter(isRelative);
      const broken = targets.flatMap((target) => {
        const problem = problemWith(file, target);
        return problem ? [`${target}: ${problem}`] : [];
      });
      const ignored = ignoredByGit(targets.filter((t) => !problemWith(file, t)).map((t) => resolve(file, t)));
      for (const target of targets) {
        if (ignored.has(resolve(file, target)))
          broken.push(`${target}: ignored by git, not in the repository`);
      }
      expect(broken).toEqual([]);
    },
  );
});

describe('the link checker itself', () => {
  it('reads inline links, images and definitions, not code', () => {
    const md = [
      'See [a](docs/a.md#x "t") and ![b](<img b.png>).',
      '`[c](c.md)` in code',
      '```',
      '[d](d.md)',
      '```',
      '[e]: e.md',
    ].join('\n');
    expect(linkTargets(md)).toEqual(['docs/a.md#x', 'img b.png', 'e.md']);
  });

  it("makes GitHub's heading anchors", () => {
    const anchors = anchorsOf(
      '# Behind a reverse proxy\n## `npm start`: the *two* commands\n## Notes\n## Notes\n',
    );
    expect([...anchors]).toEqual([
      'behind-a-reverse-proxy',
      'npm-start-the-two-commands',
      'notes',
      'notes-1',
    ]);
  });

  it('reports a missing file and a missing heading', () => {
    const readme = path.join(ROOT, 'README.md');
    expect(problemWith(readme, 'docs/nowhere.md')).toBe('no such file');
    expect(problemWith(readme, 'docs/emulator.md#no-such-heading')).toMatch(/no heading #no-such-heading/);
    expect(problemWith(readme, 'docs/emulator.md#control-api')).toBeNull();
    expect(problemWith(readme, '#environment')).toBeNull();
    expect(problemWith(path.join(ROOT, 'docs', 'api.md'), '../schema.graphql')).toBeNull();
    expect(problemWith(path.join(ROOT, 'docs', 'api.md'), '/examples/web/')).toBeNull();
    expect(problemWith(readme, '../elsewhere.md')).toBe('outside the repository');
  });

  it('tells a file git ignores from one in the repository', () => {
    const ignored = ignoredByGit([path.join(ROOT, 'node_modules'), path.join(ROOT, 'README.md')]);
    if (!existsSync(path.join(ROOT, '.git'))) return; // no git here: nothing to tell
    expect([...ignored]).toEqual([path.join(ROOT, 'node_modules')]);
  });
});
