import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { parse, stringify } from 'yaml'

export interface LabPasswords {
  admin: string
  demo: string
}

/**
 * DIR/clouds.yaml (mode 0600) with clouds trove-lab (demo) and trove-lab-admin
 * (admin), in the standard format both our CLI and the openstack CLI read. It is the
 * only clear copy of the lab passwords; the database keeps scrypt hashes.
 */
export function writeClouds(file: string, authUrl: string, region: string, pw: LabPasswords): void {
  const cloud = (user: string, password: string) => ({
    auth: { auth_url: authUrl, username: user, password, project_name: user, user_domain_name: 'Default', project_domain_name: 'Default' },
    region_name: region,
    interface: 'public',
    identity_api_version: 3,
  })
  const doc = { clouds: { 'trove-lab': cloud('demo', pw.demo), 'trove-lab-admin': cloud('admin', pw.admin) } }
  writeFileSync(file, '# Written by trove server. Use: OS_CLIENT_CONFIG_FILE=' + file + ' OS_CLOUD=trove-lab\n' + stringify(doc), { mode: 0o600 })
  chmodSync(file, 0o600)
}

/** The passwords of an existing clouds.yaml, or undefined if it is missing or not ours. */
export function readCloudPasswords(file: string): LabPasswords | undefined {
  if (!existsSync(file)) return undefined
  try {
    const doc = parse(readFileSync(file, 'utf8')) as { clouds?: Record<string, { auth?: { password?: string } }> }
    const demo = doc.clouds?.['trove-lab']?.auth?.password
    const admin = doc.clouds?.['trove-lab-admin']?.auth?.password
    return demo && admin ? { admin, demo } : undefined
  } catch {
    return undefined
  }
}
