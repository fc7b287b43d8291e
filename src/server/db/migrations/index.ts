/**
 * Versioned schema: one file per migration (mNNN-name.ts), listed here in order.
 * Never edit a released migration: add a new one with the next version.
 */
export interface Migration { version: number; name: string; sql: string }

import { m001 } from './m001-core.js'
import { m002 } from './m002-quotas.js'
import { m003 } from './m003-configurations.js'

export const MIGRATIONS: Migration[] = [m001, m002, m003]
