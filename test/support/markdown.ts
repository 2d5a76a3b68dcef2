// Just enough Markdown for test/project/docs-links.test.ts: the headings (as GitHub turns them into anchors) and the
// inline links of a page, leaving out fenced code blocks and code spans.

export interface Link {
  target: string;
  /** 1-based line of the page. */
  line: number;
}

/** GitHub's anchor for a heading (github-slugger): lower case, punctuation and symbols dropped, spaces → `-`; a
 * heading met again gets `-1`, `-2`, … */
export function slugger(): (heading: string) => string {
  const seen = new Map<string, number>();
  return (heading) => {
    const text = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .trim();
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  };
}

/** The lines of a page outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): Array<{ text: string; line: number }> {
  const lines: Array<{ text: string; line: number }> = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, index) => {
    const opening = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (fence) {
      if (opening && opening[0] === fence[0] && opening.length >= fence.length) fence = undefined;
      return;
    }
    if (opening) {
      fence = opening;
      return;
    }
    lines.push({ text: line, line: index + 1 });
  });
  return lines;
}

export function anchorsOf(text: string): Set<string> {
  const slug = slugger();
  const anchors = new Set<string>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) anchors.add(slug(heading));
  }
  return anchors;
}

export function linksOf(text: string): Link[] {
  const links: Link[] = [];
  for (const { text: raw, line } of proseLines(text)) {
    const prose = raw.replace(/(`+)[^`]*?\1/g, (span) => (span.includes('](') ? '' : span));
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1] as string, line });
    }
  }
  return links;
}
