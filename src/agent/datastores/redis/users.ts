import type { RedisClient } from './driver.js'
import { NotSupportedError, generatePassword, type Accounts } from '../accounts.js'

/** The ACL rule that makes `root` a full user with exactly this password: one argument per rule. */
export const enableRootCommand = (password: string): string[] => ['ACL', 'SETUSER', 'root', 'on', 'resetpass', '>' + password, '~*', '&*', '+@all']

const notSupported = (op: string): never => {
  throw new NotSupportedError(`The '${op}' operation is not supported for the 'redis' datastore.`)
}

/**
 * Redis (internals.md 4.3): no users or databases, only root. Upstream set
 * `requirepass`, which replaces the `default` user's password: that is the agent's
 * own admin login here (engines.md 3), so root is a separate ACL user instead, and
 * every change is saved to the aclfile (ACL SAVE).
 */
export class RedisAccounts implements Accounts {
  constructor(private readonly redis: RedisClient) {}

  createDatabases(): Promise<void> {
    return notSupported('create_database')
  }
  deleteDatabase(): Promise<void> {
    return notSupported('delete_database')
  }
  listDatabases(): Promise<never> {
    return notSupported('list_databases')
  }
  createUsers(): Promise<void> {
    return notSupported('create_user')
  }
  deleteUser(): Promise<void> {
    return notSupported('delete_user')
  }
  listUsers(): Promise<never> {
    return notSupported('list_users')
  }
  getUser(): Promise<never> {
    return notSupported('get_user')
  }
  updateAttributes(): Promise<void> {
    return notSupported('update_attributes')
  }
  changePasswords(): Promise<void> {
    return notSupported('change_passwords')
  }
  grantAccess(): Promise<void> {
    return notSupported('grant_access')
  }
  revokeAccess(): Promise<void> {
    return notSupported('revoke_access')
  }
  listAccess(): Promise<never> {
    return notSupported('list_access')
  }

  async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    const pw = password ?? generatePassword()
    await this.redis.run([enableRootCommand(pw), ['ACL', 'SAVE']])
    return { name: 'root', password: pw }
  }

  async disableRoot(): Promise<void> {
    await this.redis.run([
      ['ACL', 'DELUSER', 'root'],
      ['ACL', 'SAVE'],
    ])
  }

  async isRootEnabled(): Promise<boolean> {
    const lines = await this.redis.run([['ACL', 'LIST']])
    return lines.some((l) => /^user root on\b/.test(l))
  }
}
