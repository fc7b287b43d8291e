import type { CommandSpec } from '../spec.js'
import { instanceCreate } from './instance/create.js'
import { instanceDelete } from './instance/delete.js'
import { instanceList } from './instance/list.js'
import { instanceShow } from './instance/show.js'
import { instanceConnect } from './instance/connect.js'
import { instanceConnection } from './instance/connection.js'
import { instanceResizeFlavor } from './instance/resize-flavor.js'
import { instanceResizeVolume } from './instance/resize-volume.js'
import { instanceRestart } from './instance/restart.js'
import { instanceUpgrade } from './instance/upgrade.js'
import { instanceUpdate } from './instance/update.js'
import { instanceResetStatus } from './instance/reset-status.js'
import { instanceForceDelete } from './instance/force-delete.js'
import { instanceReboot } from './instance/reboot.js'
import { instanceRebuild } from './instance/rebuild.js'
import { instancePromote } from './instance/promote.js'
import { instanceEject } from './instance/eject.js'
import { instanceDetach } from './instance/detach.js'
import { configurationAttach } from './configuration/attach.js'
import { configurationDetach } from './configuration/detach.js'
import { configurationDefault } from './configuration/default.js'
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
import { adminFaultInject } from './admin/fault/inject.js'
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
import { backupList } from './backup/list.js'
import { backupListInstance } from './backup/list-instance.js'
import { backupShow } from './backup/show.js'
import { backupCreate } from './backup/create.js'
import { backupDelete } from './backup/delete.js'
import { backupExecutionDelete } from './backup/execution/delete.js'
import { backupExecutionList } from './backup/execution/list.js'
import { backupScheduleCreate } from './backup/schedule/create.js'
import { backupScheduleList } from './backup/schedule/list.js'
import { backupScheduleShow } from './backup/schedule/show.js'
import { backupScheduleDelete } from './backup/schedule/delete.js'
import { clusterList } from './cluster/list.js'
import { clusterShow } from './cluster/show.js'
import { clusterCreate } from './cluster/create.js'
import { clusterDelete } from './cluster/delete.js'
import { clusterForceDelete } from './cluster/force-delete.js'
import { clusterResetStatus } from './cluster/reset-status.js'
import { clusterListInstances } from './cluster/list-instances.js'
import { clusterModules } from './cluster/modules.js'
import { clusterGrow } from './cluster/grow.js'
import { clusterShrink } from './cluster/shrink.js'
import { clusterUpgrade } from './cluster/upgrade.js'
import { datastoreDelete } from './datastore/delete.js'
import { datastoreVersionCreate } from './datastore/version/create.js'
import { datastoreVersionSet } from './datastore/version/set.js'
import { datastoreVersionDelete } from './datastore/version/delete.js'

import { logList } from './log/list.js'
import { logShow } from './log/show.js'
import { logSet } from './log/set.js'
import { logTail } from './log/tail.js'
import { logSave } from './log/save.js'
import { moduleList } from './module/list.js'
import { moduleShow } from './module/show.js'
import { moduleCreate } from './module/create.js'
import { moduleUpdate } from './module/update.js'
import { moduleDelete } from './module/delete.js'
import { moduleReapply } from './module/reapply.js'
import { moduleInstances } from './module/instances.js'
import { moduleInstanceCount } from './module/instance-count.js'
import { moduleListInstance } from './module/list-instance.js'
import { moduleQuery } from './module/query.js'
import { moduleApply } from './module/apply.js'
import { moduleRemove } from './module/remove.js'
import { moduleRetrieve } from './module/retrieve.js'
/** Every API command, in help order. */
export const COMMANDS: CommandSpec[] = [
  instanceCreate,
  instanceDelete,
  instanceList,
  instanceShow,
  instanceConnect,
  instanceConnection,
  instanceResizeFlavor,
  instanceResizeVolume,
  instanceRestart,
  instanceUpgrade,
  instanceUpdate,
  instanceResetStatus,
  instanceForceDelete,
  instanceReboot,
  instanceRebuild,
  instancePromote,
  instanceEject,
  instanceDetach,
  configurationAttach,
  configurationDetach,
  configurationDefault,
  flavorList,
  flavorShow,
  limitList,
  dbList,
  dbCreate,
  dbDelete,
  userList,
  userShow,
  userCreate,
  userDelete,
  userGrantAccess,
  userRevokeAccess,
  userShowAccess,
  userUpdateAttributes,
  rootEnable,
  rootDisable,
  rootShow,
  configurationList,
  configurationShow,
  configurationCreate,
  configurationDelete,
  configurationInstances,
  configurationParameterList,
  configurationParameterShow,
  configurationParameterSet,
  configurationSet,
  quotaShow,
  quotaUpdate,
  backupList,
  backupListInstance,
  backupShow,
  backupCreate,
  backupDelete,
  backupExecutionDelete,
  backupExecutionList,
  backupScheduleCreate,
  backupScheduleList,
  backupScheduleShow,
  backupScheduleDelete,
  backupStrategyList,
  backupStrategyCreate,
  backupStrategyDelete,
  clusterList,
  clusterShow,
  clusterCreate,
  clusterDelete,
  clusterForceDelete,
  clusterResetStatus,
  clusterListInstances,
  clusterModules,
  clusterGrow,
  clusterShrink,
  clusterUpgrade,
  datastoreList,
  datastoreShow,
  datastoreDelete,
  datastoreVersionList,
  datastoreVersionShow,
  datastoreVersionCreate,
  datastoreVersionSet,
  datastoreVersionDelete,
  logList,
  logShow,
  logSet,
  logTail,
  logSave,
  moduleList,
  moduleShow,
  moduleCreate,
  moduleUpdate,
  moduleDelete,
  moduleReapply,
  moduleInstances,
  moduleInstanceCount,
  moduleListInstance,
  moduleQuery,
  moduleApply,
  moduleRemove,
  moduleRetrieve,
  adminProjectCreate,
  adminProjectList,
  adminUserCreate,
  adminUserList,
  adminRoleAdd,
  adminFaultInject,
]
