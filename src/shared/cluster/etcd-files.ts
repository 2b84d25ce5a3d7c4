// The files the cluster settings name for reaching etcd: the TLS CA, certificate and key, and the password.
// Read whole, each time a client is built (the supervisor's lease and every worker's holds), and once at
// start-up so that holdfastd refuses to start on a file it cannot use rather than failing its handshakes.
import { readFileSync } from 'node:fs';
import type { EtcdConnectionSettings } from './cluster-settings';

/** The config keys that name a file. */
export type EtcdFileSetting = 'cluster_tls_ca_file' | 'cluster_tls_cert_file' | 'cluster_tls_key_file' | 'cluster_password_file';

/** A file of the cluster settings that cannot be used: which setting, which file, and why. */
export class EtcdFileError extends Error {
  override readonly name = 'EtcdFileError';

  constructor(
    readonly setting: EtcdFileSetting,
    readonly file: string,
    /** What is wrong with it, e.g. "cannot be read (ENOENT)". */
    readonly problem: string,
  ) {
    super(`${setting} ${file} ${problem}`);
  }
}

/** What the files hold; null where the settings name no file. */
export interface EtcdFiles {
  ca: Buffer | null;
  cert: Buffer | null;
  key: Buffer | null;
  /** Without the file's trailing newline. */
  password: string | null;
}

function readSettingFile(setting: EtcdFileSetting, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new EtcdFileError(setting, file, `cannot be read (${e.code ?? e.message})`);
  }
}

function readPassword(file: string): string {
  const text = readSettingFile('cluster_password_file', file).toString('utf8');
  // A file written by `echo` or an editor ends with a newline that is not part of the password.
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new EtcdFileError('cluster_password_file', file, 'is empty');
  return password;
}

/**
 * Reads every file `settings` names.
 * @throws EtcdFileError for the first file that cannot be read (or an empty password file)
 */
export function readEtcdFiles(settings: EtcdConnectionSettings): EtcdFiles {
  const { caFile, certFile, keyFile } = settings.tls;
  return {
    ca: caFile === null ? null : readSettingFile('cluster_tls_ca_file', caFile),
    cert: certFile === null ? null : readSettingFile('cluster_tls_cert_file', certFile),
    key: keyFile === null ? null : readSettingFile('cluster_tls_key_file', keyFile),
    password: settings.auth === null ? null : readPassword(settings.auth.passwordFile),
  };
}
