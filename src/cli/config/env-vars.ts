/**
 * Every environment variable the CLI reads, with the global flag that overrides it. This one
 * list feeds the commander global options and the ENVIRONMENT section of the man page.
 */

/** One environment variable the CLI reads. */
export interface EnvVar {
  /** The variable, e.g. `OS_AUTH_URL`. */
  name: string
  /** The global flag that takes precedence over it, e.g. `--os-auth-url`. */
  flag?: string
  /** One sentence for help and the man page. */
  description: string
  /** True for credentials: never print the value (debug output, errors). */
  secret?: boolean
}

/** The registry, in the order the man page lists them. */
export const ENV_VARS: readonly EnvVar[] = [
  { name: 'OS_CLOUD', flag: '--os-cloud', description: 'Name of the cloud entry in clouds.yaml to take settings from.' },
  {
    name: 'OS_CLIENT_CONFIG_FILE',
    description: 'Path of the clouds.yaml to use before ./clouds.yaml, ~/.config/openstack/clouds.yaml and /etc/openstack/clouds.yaml; it must exist.',
  },
  {
    name: 'OS_CLIENT_SECURE_FILE',
    description: 'Path of a secure.yaml (usually holding passwords) merged over clouds.yaml; it must exist.',
  },
  {
    name: 'OS_AUTH_TYPE',
    flag: '--os-auth-type',
    description: 'Authentication plugin: password, token, none or admin_token (v3password and v3token are accepted); inferred from the other settings when unset.',
  },
  { name: 'OS_AUTH_URL', flag: '--os-auth-url', description: 'Keystone URL, e.g. http://host:5000/v3.' },
  { name: 'OS_USERNAME', flag: '--os-username', description: 'User name for password authentication.' },
  { name: 'OS_USER_ID', flag: '--os-user-id', description: 'User ID for password authentication.' },
  { name: 'OS_PASSWORD', flag: '--os-password', description: 'Password for password authentication.', secret: true },
  { name: 'OS_PROJECT_NAME', flag: '--os-project-name', description: 'Name of the project to scope the token to.' },
  { name: 'OS_PROJECT_ID', flag: '--os-project-id', description: 'ID of the project to scope the token to.' },
  { name: 'OS_TENANT_NAME', flag: '--os-tenant-name', description: 'Deprecated alias of OS_PROJECT_NAME.' },
  { name: 'OS_TENANT_ID', flag: '--os-tenant-id', description: 'Deprecated alias of OS_PROJECT_ID.' },
  { name: 'OS_USER_DOMAIN_NAME', flag: '--os-user-domain-name', description: "Name of the user's domain." },
  { name: 'OS_USER_DOMAIN_ID', flag: '--os-user-domain-id', description: "ID of the user's domain (default: default)." },
  { name: 'OS_PROJECT_DOMAIN_NAME', flag: '--os-project-domain-name', description: "Name of the project's domain." },
  { name: 'OS_PROJECT_DOMAIN_ID', flag: '--os-project-domain-id', description: "ID of the project's domain (default: default)." },
  { name: 'OS_TOKEN', flag: '--os-token', description: 'Token for the token and admin_token plugins.', secret: true },
  {
    name: 'OS_ENDPOINT',
    flag: '--os-endpoint',
    description: 'Fixed database endpoint for the none and admin_token plugins, e.g. http://host:8779/v1.0/PROJECT_ID.',
  },
  { name: 'OS_REGION_NAME', flag: '--os-region-name', description: 'Region of the database endpoint in the catalog.' },
  { name: 'OS_INTERFACE', flag: '--os-interface', description: 'Catalog interface: public (default), internal or admin.' },
  { name: 'OS_CACERT', flag: '--os-cacert', description: 'CA bundle to verify TLS certificates with.' },
  { name: 'OS_INSECURE', flag: '--insecure', description: 'true to skip TLS certificate verification.' },
  {
    name: 'CLIFF_MAX_TERM_WIDTH',
    flag: '--max-width',
    description: 'Maximum table width; wider tables wrap their widest columns (0 disables).',
  },
  { name: 'CLIFF_FIT_WIDTH', flag: '--fit-width', description: 'Set to 1 to always fit tables to the terminal width.' },
  { name: 'TROVE_DATA_DIR', description: 'Directory of the lab server: its database, instances, clouds.yaml and log (default /var/lib/trove-lab for root, else ~/.local/share/trove-lab).' },
  { name: 'TROVE_PORT', description: 'API port of the lab server (default 18779, or the next free one when it is taken).' },
  { name: 'NO_COLOR', description: 'Set to any value to disable colour in terminal output.' },
]
