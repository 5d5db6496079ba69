/**
 * Structure-aware mutations of real Dockerfiles, for fuzzing the parser: the edits people (and
 * editors) make by accident — spliced, duplicated or dropped lines and characters, stray
 * escapes, quotes, brackets and `#`, escape directives, heredoc markers, CRLF endings, unknown or
 * misspelt instruction words, JSON-looking arguments, Unicode blanks. Deterministic for a seed.
 */

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;

const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** Characters and short pieces inserted at random places. */
const PIECES = [
  '\\', '\\', '\\\n', '\\ \n', '\\\\', '`', '`\n', '"', '"', "'", "'", '[', ']', '{', '}', ',', ':', '#', '# ', '\n#',
  '\n', '\n\n', '\r\n', '\r', ' ', '  ', '\t', '\v', '\f', '\u00a0', '\u0085', '\u2028', '\u3000', '\ufeff', '=', '==',
  '--', '--x', '--from=a', '--mount=type=cache,target=/x', '-- ', '$', '${', '}', '$(', ')', ';', '&&', '<<', '<<-',
  '<<EOF', '<<-EOF', '<<"EOF"', "<<'E'", '2<<X', '\nEOF\n', '\n\tEOF\n', 'EOF', '\nX\n', '\nE\n', '[1,2]', '["a",1]',
  '["a"]', '[]', '[[]]', '[{}]', 'null', 'true', '1e3', '"\\u0041"', '"\\ud800"', 'é', '😀', '\u0000', 'İ', 'K',
];

/** Whole lines spliced in. */
const LINES = [
  '# escape=`', '# escape=\\', '#escape = `', '# escape=x', '# syntax=docker/dockerfile:1', '# check=skip=all',
  '# directive=x', '#', '', '   ', '\\', '`', 'ONBUILD', 'ONBUILD ONBUILD RUN x', 'ONBUILD RUN <<EOF', 'RUN <<EOF',
  'RUN <<-EOF', 'COPY <<A <<B /dst/', 'EOF', '\tEOF', 'A', 'B', 'ENV', 'ENV a', 'ENV a=b c', 'ENV a="b c" d=e',
  'LABEL "a b"=c', 'ARG', 'ARG a=b c', 'FROM', 'FROM a AS b', 'HEALTHCHECK', 'HEALTHCHECK NONE',
  'HEALTHCHECK --interval=5s CMD ["a",1]', 'HEALTHCHECK CMD', 'CMD [1,2] \\', 'ENTRYPOINT ["a",', 'SHELL ["a"] b',
  'VOLUME [ "/a" ]', 'EXPOSE 80\t443', 'USER', 'WORKDIR  /a  ', 'STOPSIGNAL 9', 'MAINTAINER x y', 'GNUPGHOME="$(mktemp -d)"; \\',
  'FOO=bar', 'run --mount="a b" x', 'COPY --chown="a b c', 'RUN --', 'RUN -- x', 'RUN --x=\\', 'cmd\u00a0x',
];

const KEYWORDS = ['FROM', 'RUN', 'CMD', 'ENTRYPOINT', 'COPY', 'ADD', 'ENV', 'ARG', 'LABEL', 'ONBUILD', 'HEALTHCHECK',
  'SHELL', 'VOLUME', 'EXPOSE', 'USER', 'WORKDIR', 'STOPSIGNAL', 'MAINTAINER', 'FOO', 'run', 'Copy', 'R UN', 'RUN\t'];

function splitLines(s: string): string[] {
  return s.split('\n');
}

/** One random edit. `donors` supplies lines from other files. */
function mutateOnce(s: string, rand: Rand, donors: readonly string[]): string {
  const op = Math.floor(rand() * 16);
  const at = Math.floor(rand() * (s.length + 1));
  switch (op) {
    case 0:
    case 1:
    case 2: // insert a piece
      return s.slice(0, at) + pick(rand, PIECES) + s.slice(at);
    case 3: // delete a few characters
      return s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * (rand() < 0.8 ? 2 : 20)));
    case 4: { // duplicate a stretch
      const len = 1 + Math.floor(rand() * (rand() < 0.7 ? 2 : 40));
      return s.slice(0, at + len) + s.slice(at, at + len) + s.slice(at + len);
    }
    case 5: { // splice a line from another file
      const lines = splitLines(s);
      const donor = splitLines(pick(rand, donors));
      lines.splice(Math.floor(rand() * (lines.length + 1)), 0, pick(rand, donor));
      return lines.join('\n');
    }
    case 6: { // splice a known tricky line
      const lines = splitLines(s);
      lines.splice(Math.floor(rand() * (lines.length + 1)), 0, pick(rand, LINES));
      return lines.join('\n');
    }
    case 7: { // delete or swap lines
      const lines = splitLines(s);
      const i = Math.floor(rand() * lines.length);
      const j = Math.floor(rand() * lines.length);
      if (rand() < 0.5) lines.splice(i, 1);
      else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 8: // directive at the top
      return pick(rand, ['# escape=`\n', '# escape=\\\n', '# syntax=x\n', '#escape=`\r\n', '# check=x\n# escape=`\n', '\ufeff# escape=`\n', '# escape=`\n# escape=\\\n']) + s;
    case 9: // CRLF line endings (all or one)
      return rand() < 0.5 ? s.replace(/\n/g, '\r\n') : s.slice(0, at) + s.slice(at).replace('\n', '\r\n');
    case 10: { // change an instruction word
      const lines = splitLines(s);
      const i = Math.floor(rand() * lines.length);
      lines[i] = lines[i]!.replace(/^(\s*)\S+/, (_m, ws: string) => ws + pick(rand, KEYWORDS));
      return lines.join('\n');
    }
    case 11: { // join a line with the next (lost escape) or split a line
      const nl = s.indexOf('\n', at);
      if (nl < 0) return s;
      return rand() < 0.5 ? s.slice(0, nl) + s.slice(nl + 1) : s.slice(0, at) + '\n' + s.slice(at);
    }
    case 12: // the other escape character everywhere
      return rand() < 0.5 ? s.replace(/\\$/gm, '`') : s.replace(/`$/gm, '\\');
    case 13: { // a heredoc on an instruction line, with or without its terminator
      const lines = splitLines(s);
      const i = Math.floor(rand() * lines.length);
      const name = pick(rand, ['EOF', 'E', '"EOF"', "'X'", 'A B', '-EOF']);
      lines[i] = lines[i]! + ' <<' + name;
      if (rand() < 0.7) lines.splice(i + 1 + Math.floor(rand() * 3), 0, name.replace(/["'-]/g, ''));
      return lines.join('\n');
    }
    case 14: // truncate
      return s.slice(0, at);
    default: { // trailing blanks or escape at a line end
      const nl = s.indexOf('\n', at);
      const end = nl < 0 ? s.length : nl;
      return s.slice(0, end) + pick(rand, [' ', '\t', ' \\', '\\ ', '\\\t', '`', ' `', '\\\\', '\r']) + s.slice(end);
    }
  }
}

/** A mutated copy of `src` with 1..max random edits. */
export function mutateDockerfile(src: string, rand: Rand, donors: readonly string[], max = 6): string {
  let s = src;
  const n = 1 + Math.floor(rand() * max);
  for (let i = 0; i < n; i++) s = mutateOnce(s, rand, donors);
  return s;
}
