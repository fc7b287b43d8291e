/** One schema step: never edited once released (migrations/index.ts lists them in order). */
export interface Migration {
  version: number
  name: string
  sql: string
}
