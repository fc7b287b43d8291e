export * from './topics.js'
export * from './statuses.js'
export * from './messages.js'
export * from './bootstrap.js'
