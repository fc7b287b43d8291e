/**
 * Versioned schema: one file per migration (mNNN-name.ts), listed here in order.
 * Never edit a released migration: add a new one with the next version.
 */

export type { Migration } from './migration.js'
import type { Migration } from './migration.js'
import { m001 } from './m001-core.js'
import { m002 } from './m002-quotas.js'
import { m003 } from './m003-configurations.js'
import { m005 } from './m005-modules.js'
import { m006 } from './m006-backup-strategies.js'
import { m007 } from './m007-notifications.js'
import { m008 } from './m008-root-history.js'
import { m009 } from './m009-backups.js'
import { m010 } from './m010-replication.js'
import { m011 } from './m011-backup-schedules.js'
import { m012 } from './m012-archives.js'
import { m013 } from './m013-replication-sets.js'
import { m014 } from './m014-auto-failover.js'
import { m015 } from './m015-replica-rejoins.js'
import { m016 } from './m016-sync-replication.js'

export const MIGRATIONS: Migration[] = [m001, m002, m003, m005, m006, m007, m008, m009, m010, m011, m012, m013, m014, m015, m016]
