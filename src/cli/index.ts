/** Public surface of the CLI: the command functions (tests call them directly), the runner, the helpers they use. */
export { runCli, buildProgram, cliTraits, COMMANDS, type RunOptions } from './program.js';
export {
  defineCommand,
  defineGroup,
  buildCommandTree,
  COMMON_OPTIONS,
  type CommandDeclaration,
  type CommandTraits,
  type Declaration,
  type OptionDeclaration,
  type OptionTable,
  type OptionValues,
} from './command-declaration.js';
export type { CliContext, CommonOptions, FetchFunction } from './context.js';
export {
  loadCliConfig,
  saveCliConfig,
  resolveConfigPath,
  DEFAULT_SUBSCRIPTION_ID,
  type CliConfig,
  type CliEnvironment,
} from './config.js';
export {
  CliError,
  UsageError,
  ApiResponseError,
  OperationFailedError,
  ServerUnreachableError,
  NotLoggedInError,
  ConfigFileError,
  WatcherNotFoundError,
  WaitTimeoutError,
  DownloadError,
} from './errors.js';
export { ArmClient, type ArmResponse, type ArmRequestOptions } from './arm-client.js';
export { beginAndWait, pollUntilDone, OperationTimeoutError, type LroOutcome, type LroPollOptions } from './lro.js';
export { createCaFetch } from './ca-fetch.js';
export {
  formatJson,
  formatTable,
  formatTsv,
  formatOutput,
  parseOutputFormat,
  type OutputFormat,
  type TableColumn,
} from './output.js';
export {
  flattenResource,
  shapePacketCapture,
  shapeQueryStatus,
  shapeVmExtension,
  shapeStorageAccount,
  shapeWatcher,
  shapeVm,
} from './shape.js';
export { compileCondition, type Condition } from './condition-expression.js';
export {
  vmExtensionSet,
  vmExtensionShow,
  vmExtensionList,
  vmExtensionDelete,
  type VmExtensionSetOptions,
  type VmExtensionNameOptions,
  type VmSelectorOptions,
} from './commands/vm-extension.js';
export { vmList, vmShow, type VmListOptions, type VmShowOptions } from './commands/vm.js';
export {
  storageAccountList,
  storageAccountShow,
  storageAccountCreate,
  storageAccountDelete,
  storageAccountBody,
  type StorageAccountCreateOptions,
  type StorageAccountListOptions,
  type StorageAccountNameOptions,
} from './commands/storage-account.js';
export { watcherList, watcherConfigure, type WatcherConfigureOptions } from './commands/network-watcher.js';
export {
  packetCaptureCreate,
  packetCaptureShow,
  packetCaptureShowStatus,
  packetCaptureStop,
  packetCaptureDelete,
  packetCaptureList,
  planPacketCaptureCreate,
  type PacketCaptureCreateOptions,
  type PacketCaptureNameOptions,
  type PacketCaptureCreatePlan,
} from './commands/packet-capture.js';
export { packetCaptureWait, type PacketCaptureWaitOptions } from './commands/packet-capture-wait.js';
export {
  packetCaptureDownload,
  CONTENT_SHA256_HEADER,
  type PacketCaptureDownloadOptions,
  type DownloadResult,
} from './commands/packet-capture-download.js';
export { login, type LoginOptions } from './commands/login.js';
export { runServer, DEFAULT_LISTEN, type ServerCommandOptions } from './commands/server.js';
export { runAgent, type AgentCommandOptions } from './commands/agent.js';
export { up, nextSteps, type UpOptions, type UpResult } from './commands/up.js';
export { loadServiceStarters, loadAgentStarter, type ServiceStarters } from './services.js';
