import { randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, link, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '../errors.ts';

/**
 * A file from a multipart body. With the default storage its bytes are in memory (`data`);
 * with `uploads: { storage: 'disk' }` they are in a temp file at `path`, which sluice deletes
 * when the request ends (answered, failed or abandoned by the client). To keep a file, `await
 * file.save(dir)` before the response ends: it moves the temp file there. `stream()` and
 * `bytes()` read either kind.
 *
 * `filename` is what the client sent: show it, never build a path from it. sluice does not:
 * temp files and the names `save()` picks are random.
 *
 * @example
 * ```ts
 * s.post('/avatar', async (r) => {
 *   const file = r.getFiles().find((f) => f.field === 'avatar');
 *   if (file === undefined) throw new HttpError(400, 'avatar is required');
 *   const saved = await file.save('/srv/avatars'); // '/srv/avatars/3f9c…', kept after the request
 *   return { name: file.filename, bytes: file.size, saved };
 * }, { uploads: { storage: 'disk', maxFileSize: 2 * 2 ** 20 } });
 * ```
 */
export class UploadedFile {
  /** The form field name. */
  readonly field: string;
  /** The last path segment of the file name the client sent (busboy drops the rest): for display only. */
  readonly filename: string;
  /** The part's Content-Type, as the client declared it. */
  readonly mimeType: string;
  /** Bytes of the file. */
  readonly size: number;
  #data: Buffer | undefined;
  #path: string | undefined;

  /** @internal Made by the body parser, with either the bytes or the temp file. */
  constructor(
    field: string,
    filename: string,
    mimeType: string,
    size: number,
    data: Buffer | undefined,
    path: string | undefined,
  ) {
    this.field = field;
    this.filename = filename;
    this.mimeType = mimeType;
    this.size = size;
    this.#data = data;
    this.#path = path;
  }

  /**
   * The bytes of a file held in memory (the default storage). A file streamed to disk has no
   * `data`: reading it throws, naming `path`, `stream()` and `bytes()`, rather than loading what
   * may be gigabytes behind the caller's back.
   */
  get data(): Buffer {
    if (this.#data === undefined) {
      throw new Error(
        `sluice: the uploaded file of field "${this.field}" was streamed to disk (uploads.storage 'disk'), ` +
          'so it has no data in memory: read it at file.path, with file.stream() or await file.bytes()',
      );
    }
    return this.#data;
  }

  /**
   * Where the file is on disk: its temp file (deleted when the request ends) or, after
   * `save()`, where it was saved. `undefined` for a file held in memory.
   */
  get path(): string | undefined {
    return this.#path;
  }

  /** The file's bytes as a stream, from memory or from disk. */
  stream(): Readable {
    if (this.#data !== undefined) return Readable.from([this.#data]);
    return createReadStream(this.#path!);
  }

  /** The file's bytes; from disk, read into memory whole: mind the size. */
  async bytes(): Promise<Buffer> {
    if (this.#data !== undefined) return this.#data;
    return readFile(this.#path!);
  }

  /**
   * Saves the file into `dir` (which must exist), as GoFrame's `file.Save(dir)`, and resolves
   * with its new path. The name is `name` when given (a single path segment: no `/`, `\`, NUL,
   * `.` or `..`), else a random one: never the client's `filename`. An existing file is never
   * replaced: a name already taken rejects with EEXIST. A temp file is moved (renamed on the same
   * file system, else copied), so it survives the end of the request; it keeps mode 0o600.
   *
   * @example
   * ```ts
   * const kept = await file.save('/srv/uploads');                 // random name
   * const named = await file.save('/srv/uploads', `${user.id}.png`); // a name of yours
   * ```
   */
  async save(dir: string, name?: string): Promise<string> {
    if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) {
      throw new InvalidArgumentError('dir', 'must be a non-empty directory path', dir);
    }
    const dest = join(dir, name === undefined ? randomName() : segment(name));
    const from = this.#path;
    if (from === undefined) {
      await writeFile(dest, this.#data!, { flag: 'wx', mode: 0o600 });
    } else {
      await moveExclusive(from, dest);
    }
    this.#path = dest;
    return dest;
  }

  /** What `JSON.stringify` shows: the description, never the bytes. */
  toJSON(): { field: string; filename: string; mimeType: string; size: number; path?: string } {
    const { field, filename, mimeType, size } = this;
    return this.#path === undefined
      ? { field, filename, mimeType, size }
      : { field, filename, mimeType, size, path: this.#path };
  }
}

/**
 * A rename that never replaces (`rename` would silently overwrite): a hard link fails if the
 * name is taken, then the temp name goes. Across file systems, where links cannot go, a copy
 * that refuses an existing target, the temp file being deleted with the request.
 */
async function moveExclusive(from: string, dest: string): Promise<void> {
  try {
    await link(from, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
    await copyFile(from, dest, constants.COPYFILE_EXCL);
    return;
  }
  await unlink(from).catch(() => {});
}

function randomName(): string {
  return randomBytes(16).toString('hex');
}

function segment(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name === '.' ||
    name === '..' ||
    /[/\\\0]/.test(name)
  ) {
    throw new InvalidArgumentError(
      'name',
      'must be a file name without "/", "\\" or NUL, not "." or ".."',
      name,
    );
  }
  return name;
}

/** One temp file being written: its path, and when its descriptor is closed (then it can go). */
interface TempFile {
  readonly path: string;
  readonly closed: Promise<void>;
  readonly out: WriteStream;
}

/**
 * @internal The temp files of one request's body. Each is created exclusively (`wx`, so a
 * name can never land on an existing file or link) with mode 0o600 under a random name. All are
 * deleted by `removeAll()`, which the request calls when its response closes and the parser
 * calls on any failure; after that, no new file may be created, so a parse still running past
 * the end of its response cannot leave one behind.
 */
export class TempFiles {
  private readonly files: TempFile[] = [];
  private removed = false;
  private readonly dir: string;
  private readonly report: (e: unknown) => void;

  constructor(dir: string, report: (e: unknown) => void) {
    this.dir = dir;
    this.report = report;
  }

  /** A new temp file to write, or `undefined` once the request is over. */
  create(): WriteStream | undefined {
    if (this.removed) return undefined;
    const path = join(this.dir, `sluice-upload-${randomName()}`);
    const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    // 'close' follows 'finish', an error or destroy(), once the descriptor is released (or the
    // open failed): only then is deleting the file final, since an open still in flight would
    // create it after an earlier unlink.
    const closed = new Promise<void>((resolve) => out.once('close', resolve));
    this.files.push({ path, closed, out });
    return out;
  }

  /**
   * Deletes every temp file still at its temp path (saved ones have moved). Never rejects: a
   * file that cannot be deleted is reported (logged by the server), not thrown at a caller that
   * has no way to handle it.
   */
  async removeAll(): Promise<void> {
    this.removed = true;
    const files = this.files.splice(0);
    await Promise.all(
      files.map(async (f) => {
        if (!f.out.closed) f.out.destroy();
        await f.closed;
        await rm(f.path, { force: true }).catch(this.report);
      }),
    );
  }
}
