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

/** Every API command, in help order. */
export const COMMANDS: CommandSpec[] = [
  instanceCreate, instanceDelete, instanceList, instanceShow,
  flavorList, flavorShow,
  datastoreList, datastoreShow, datastoreVersionList, datastoreVersionShow,
  adminProjectCreate, adminProjectList, adminUserCreate, adminUserList, adminRoleAdd,
]
