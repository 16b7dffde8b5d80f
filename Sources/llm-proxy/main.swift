import Dispatch
import NIOCore
import NIOPosix

// NIO's event loops become Swift's global executor before any task starts: handlers and the
// HTTP client then run on the same threads without hopping between executors.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

let finished = DispatchSemaphore(value: 0)
Task.detached {
    await LLMProxyCommand.main()
    finished.signal()
}
finished.wait()
