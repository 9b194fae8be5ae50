#if canImport(Glibc)
import Glibc
#endif

/// The scheduling priority of the calling thread.
public enum ThreadPriority {
    /// Gives the calling thread a nice value (0 is the default, 19 the lowest priority), for
    /// control-plane work that must not take a core from the data path when the machine is
    /// busy. On Linux the nice value belongs to a thread, and `setpriority(PRIO_PROCESS, 0, …)`
    /// changes only the caller's. Returns whether it took effect.
    @discardableResult
    public static func setCurrentThreadNiceness(_ value: Int32) -> Bool {
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, value) == 0
    }
}
