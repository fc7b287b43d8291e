import t from 'tap'
import { deriveStatus, type EngineState } from '../../src/agent/status.js'

const s = (o: Partial<EngineState>): EngineState => ({ phase: 'ready', alive: false, answering: false, lastExit: 'none', ...o })

t.equal(deriveStatus(s({ phase: 'building', alive: true, answering: true })), 'BUILDING', 'prepare wins over the process')
t.equal(deriveStatus(s({ phase: 'failed', alive: true })), 'FAILED')
t.equal(deriveStatus(s({ alive: true, answering: true })), 'HEALTHY')
t.equal(deriveStatus(s({ alive: true, answering: false })), 'RUNNING', 'up but not answering')
t.equal(deriveStatus(s({ lastExit: 'crashed' })), 'CRASHED', 'died on its own')
t.equal(deriveStatus(s({ lastExit: 'stopped' })), 'SHUTDOWN', 'stopped on request')
t.equal(deriveStatus(s({ lastExit: 'none' })), 'SHUTDOWN', 'never started')
t.equal(deriveStatus(s({ lastExit: 'crashed', alive: true, answering: true })), 'HEALTHY', 'restarted after a crash')
