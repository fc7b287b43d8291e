// The `--import` of a test process (.taprc's node-arg): registers hooks.mjs.
import { register } from 'node:module'

register('./hooks.mjs', import.meta.url)
