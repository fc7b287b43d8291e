import type { CommandSpec } from '../spec.js'
import { instanceCreate } from './instance/create.js'
import { instanceDelete } from './instance/delete.js'
import { instanceList } from './instance/list.js'
import { instanceShow } from './instance/show.js'
import { flavorList } from './flavor/list.js'
import { flavorShow } from './flavor/show.js'
import { datastoreList } from './datastore/list.js'
import { datastoreShow } from './datastore/show.js'
import { datastoreVersionList } from './datastore/version/list.js'
import { datastoreVersionShow } from './datastore/version/show.js'
import { adminProjectCreate } from './admin/project/create.js'
import { adminProjectList } from './admin/project/list.js'
import { adminUserCreate } from './admin/user/create.js'
import { adminUserList } from './admin/user/list.js'
import { adminRoleAdd } from './admin/role/add.js'
import { dbList } from './db/list.js'
import { dbCreate } from './db/create.js'
import { dbDelete } from './db/delete.js'
import { userList } from './user/list.js'
import { userShow } from './user/show.js'
import { userCreate } from './user/create.js'
import { userDelete } from './user/delete.js'
import { userGrantAccess } from './user/grant-access.js'
import { userRevokeAccess } from './user/revoke-access.js'
import { userShowAccess } from './user/show-access.js'
import { userUpdateAttributes } from './user/update-attributes.js'
import { rootEnable } from './root/enable.js'
import { rootDisable } from './root/disable.js'
import { rootShow } from './root/show.js'
import { configurationList } from './configuration/list.js'
import { configurationShow } from './configuration/show.js'
import { configurationCreate } from './configuration/create.js'
import { configurationDelete } from './configuration/delete.js'
import { configurationInstances } from './configuration/instances.js'
import { configurationParameterList } from './configuration/parameter/list.js'
import { configurationParameterShow } from './configuration/parameter/show.js'
import { configurationParameterSet } from './configuration/parameter/set.js'
import { configurationSet } from './configuration/set.js'
import { limitList } from './limit/list.js'
import { quotaShow } from './quota/show.js'
import { quotaUpdate } from './quota/update.js'
import { backupStrategyList } from './backup/strategy/list.js'
import { backupStrategyCreate } from './backup/strategy/create.js'
import { backupStrategyDelete } from './backup/strategy/delete.js'
import { clusterList } from './cluster/list.js'
import { datastoreVersionCreate } from './datastore/version/create.js'
import { datastoreVersionSet } from './datastore/version/set.js'
import { datastoreVersionDelete } from './datastore/version/delete.js'

/** Every API command, in help order. */
export const COMMANDS: CommandSpec[] = [
  instanceCreate, instanceDelete, instanceList, instanceShow,
  flavorList, flavorShow, limitList,
  dbList, dbCreate, dbDelete,
  userList, userShow, userCreate, userDelete, userGrantAccess, userRevokeAccess, userShowAccess, userUpdateAttributes,
  rootEnable, rootDisable, rootShow,
  configurationList, configurationShow, configurationCreate, configurationDelete, configurationInstances,
  configurationParameterList, configurationParameterShow, configurationParameterSet, configurationSet,
  quotaShow, quotaUpdate,
  backupStrategyList, backupStrategyCreate, backupStrategyDelete,
  clusterList,
  datastoreList, datastoreShow, datastoreVersionList, datastoreVersionShow,
  datastoreVersionCreate, datastoreVersionSet, datastoreVersionDelete,
  adminProjectCreate, adminProjectList, adminUserCreate, adminUserList, adminRoleAdd,
]
