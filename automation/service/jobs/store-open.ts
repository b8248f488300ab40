import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";

/** Another live process (a second `platform serve`) has the store open. */
export class StoreInUseError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number | undefined,
  ) {
    super(
      `the job store ${file} is in use by ${pid ? `process ${pid}` : "another process"} (another \`platform serve\`?): stop it, or give this one its own PLATFORM_DATA_DIR`,
    );
    this.name = "StoreInUseError";
  }
}

/** The store could not be opened or created: names the file and the cause. */
export class StoreOpenError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`cannot open ${file}: ${reason} (set PLATFORM_DATA_DIR to a writable directory, or fix this one)`);
    this.name = "StoreOpenError";
  }
}

/** What an error of the file system or of SQLite means for the store, in a few words with its code. */
export function describeStoreError(error: unknown, file: string): string {
  const { code, message } = error as { code?: string; message?: string };
  const dir = path.dirname(file);
  switch (code) {
    case "EROFS":
    case "SQLITE_READONLY":
    case "SQLITE_READONLY_DBMOVED":
    case "SQLITE_READONLY_RECOVERY":
    case "SQLITE_READONLY_CANTINIT":
    case "SQLITE_READONLY_DIRECTORY":
      return `read-only (${code})`;
    case "EACCES":
    case "EPERM":
      return `read-only: permission denied (${code})`;
    case "ENOTDIR":
      return `a parent of ${dir} is not a directory (${code})`;
    case "ENOSPC":
    case "SQLITE_FULL":
      return `the disk is full (${code})`;
    case "SQLITE_NOTADB":
      return "not an SQLite database (SQLITE_NOTADB): move it away, or point PLATFORM_DATA_DIR elsewhere";
    case "SQLITE_CORRUPT":
      return "the database is corrupt (SQLITE_CORRUPT)";
    case "SQLITE_CANTOPEN":
      if (fs.existsSync(file) && fs.statSync(file).isDirectory())
        return "it is a directory (SQLITE_CANTOPEN)";
      if (!isWritable(dir)) return `read-only: ${dir} is not writable (SQLITE_CANTOPEN)`;
      return `${message ?? "unable to open database file"} (SQLITE_CANTOPEN)`;
    default:
      return code ? `${message} (${code})` : String(message ?? error);
  }
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the store for this process: one service per store, because a starting service marks the
 * jobs it finds running as interrupted, which is only true when no other process runs them.
 *
 * The lock is an OS file lock, SQLite's exclusive lock on `<file>.owner` (locking_mode EXCLUSIVE
 * keeps it until the connection closes), so the kernel releases it when the process ends, however
 * it ends: no PID to check, and a new process that happens to get a dead one's PID (a container's
 * PID 1) is never refused. (`<file>.lock`, the PID file of earlier versions, is not read.) It needs
 * a file system with working POSIX locks, as SQLite's WAL mode itself does: not NFS.
 *
 * @throws StoreInUseError when another connection, in this process or another, holds it.
 */
export function acquireLock(file: string): Database.Database {
  const lockFile = `${file}.owner`;
  let lock: Database.Database;
  try {
    lock = new Database(lockFile, { timeout: 0 });
  } catch (error) {
    throw new StoreOpenError(lockFile, describeStoreError(error, lockFile));
  }
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)");
    lock.exec("DELETE FROM holder");
    lock.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    lock.exec("COMMIT");
    return lock;
  } catch (error) {
    lock.close();
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_BUSY") throw new StoreInUseError(file, holderPid(file));
    if (code === "SQLITE_NOTADB") {
      throw new Error(`${lockFile} is not the job store's lock (an SQLite file): remove it and start again`);
    }
    throw new StoreOpenError(lockFile, describeStoreError(error, lockFile));
  }
}

/** The PID the holder of the store's lock recorded in the store (for the message only). */
function holderPid(file: string): number | undefined {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 100 });
    try {
      const row = db.prepare("SELECT value FROM meta WHERE key = 'holder_pid'").get() as
        | { value: string }
        | undefined;
      return row ? Number(row.value) : undefined;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Opens the store's database and runs `setup` on it. When either fails, the connection is closed
 * (SQLite then removes the `-wal` and `-shm` files it can) and a file this attempt created is
 * removed with them, so that a failed start leaves nothing behind for the next one to trip on.
 *
 * @throws StoreOpenError naming the file and the cause.
 */
export function openDatabase(file: string, setup: (db: Database.Database) => void): Database.Database {
  const existed = fs.existsSync(file);
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    setup(db);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // Closing is best effort: the error to report is the one that stopped the start.
    }
    const created = existed ? [] : [file];
    for (const leftover of [...created, `${file}-wal`, `${file}-shm`]) {
      // A -wal with data in it is kept: it may hold commits of an earlier run.
      if (leftover.endsWith("-wal") && existed && fileSize(leftover) > 0) continue;
      fs.rmSync(leftover, { force: true });
    }
    throw new StoreOpenError(file, describeStoreError(error, file));
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
