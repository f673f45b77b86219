/**
 * Expands the file source's `path` (a file, a directory or a glob) into files, in sorted
 * order, one directory listing at a time.
 *
 * @module
 */

import { join, relative, resolve, sep as SEPARATOR } from "node:path";
import { SourceError } from "../../model/errors.ts";

const GLOB_CHARS = /[*?[]/;

/**
 * The files a path names, absolute, in sorted order: itself if a file, every file below it if a
 * directory (recursively, entries sorted by name), or every file matching a glob (`*`, `?`,
 * `[…]` within one path segment, `**` across segments).
 *
 * @param path File, directory or glob.
 * @returns Absolute paths.
 * @throws {SourceError} When nothing exists at the path or under the glob's fixed prefix.
 */
export async function* expandPaths(path: string): AsyncGenerator<string, void, undefined> {
  if (!GLOB_CHARS.test(path)) {
    const absolute = resolve(path);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(absolute);
    } catch (error) {
      throw new SourceError(`Cannot read "${path}": ${(error as Error).message}`, { cause: error });
    }
    if (info.isDirectory) yield* _walk(absolute, null);
    else yield absolute;
    return;
  }
  const segments = resolve(path).split(SEPARATOR);
  const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
  const base = segments.slice(0, firstGlob).join(SEPARATOR) || SEPARATOR;
  const pattern = _globToRegExp(segments.slice(firstGlob).join("/"));
  try {
    await Deno.stat(base);
  } catch (error) {
    throw new SourceError(
      `Cannot read "${base}" (the fixed part of "${path}"): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  yield* _walk(base, (file) => pattern.test(relative(base, file).split(SEPARATOR).join("/")));
}

async function* _walk(
  dir: string,
  accept: ((file: string) => boolean) | null,
): AsyncGenerator<string, void, undefined> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory) yield* _walk(full, accept);
    else if ((entry.isFile || entry.isSymlink) && (accept === null || accept(full))) yield full;
  }
}

function _globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      // "**/" matches zero or more whole directories; a trailing "**" matches anything.
      const slash = glob[i + 2] === "/";
      out += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) out += "\\[";
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        out += `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
