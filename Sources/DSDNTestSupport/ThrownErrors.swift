import DSDNDA
import DSDNRuntime
import Testing

/// The `E` that `body` throws; records an issue (and returns `nil`) when it throws something else or
/// nothing.
public func thrownError<E: Error, T>(_ type: E.Type, _ body: () async throws -> T) async -> E? {
    do {
        _ = try await body()
        Issue.record("expected a \(E.self), but the call succeeded")
        return nil
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected a \(E.self), got \(error)")
        return nil
    }
}

/// The `DAError` `body` throws.
public func daError<T>(_ body: () async throws -> T) async -> DAError? { await thrownError(DAError.self, body) }

/// The `RuntimeError` `body` throws.
public func runtimeError<T>(_ body: () async throws -> T) async -> RuntimeError? { await thrownError(RuntimeError.self, body) }
