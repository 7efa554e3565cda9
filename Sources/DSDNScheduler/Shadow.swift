import DSDNCore

/// What a shadow policy decided for one chunk, next to the placement policy's decision on the same
/// inputs. The one comparison used live (`serve` with a shadow active) and offline (`policy shadow`).
public enum ShadowVerdict: Sendable, Hashable {
    /// Both chose the same nodes in the same order.
    case agree
    /// They chose differently: both choices (an empty placement choice when the placement policy
    /// failed).
    case disagree(placement: [String], shadow: [String])
    /// The shadow failed (error, budget, invalid result).
    case failed(String)

    /// Compares two decisions of the same chunk on the same inputs.
    public static func compare(
        placement: Result<PlacementDecision, PolicyError>, shadow: Result<PlacementDecision, PolicyError>
    ) -> ShadowVerdict {
        let shadowChoice: [String]
        switch shadow {
        case let .success(decision): shadowChoice = decision.chosen
        case let .failure(error): return .failed(error.description)
        }
        let placementChoice = (try? placement.get())?.chosen ?? []
        return placementChoice == shadowChoice ? .agree : .disagree(placement: placementChoice, shadow: shadowChoice)
    }
}

/// Counts of one shadow version's verdicts, with the most recent disagreements.
public struct ShadowTally: Sendable, Hashable {
    /// One disagreement.
    public struct Disagreement: Sendable, Hashable {
        /// The chunk.
        public var chunk: Hash256
        /// The placement policy's choice.
        public var placement: [String]
        /// The shadow's choice.
        public var shadow: [String]
        /// The snapshot height both decided on.
        public var snapshotHeight: UInt64
    }

    /// How many disagreements are kept.
    public static let keptDisagreements = 10

    /// The shadow version, `name@version`.
    public var shadow: String
    /// The placement version it was compared with (the latest).
    public var placement: String
    /// Decisions where both agreed.
    public var agreements: UInt64 = 0
    /// Decisions where they did not.
    public var disagreements: UInt64 = 0
    /// Decisions where the shadow failed.
    public var failures: UInt64 = 0
    /// The most recent disagreements, oldest first.
    public var recentDisagreements: [Disagreement] = []
    /// The last failure's message.
    public var lastFailure: String?

    /// An empty tally.
    public init(shadow: String, placement: String) {
        self.shadow = shadow
        self.placement = placement
    }

    /// Counts one verdict.
    public mutating func record(_ verdict: ShadowVerdict, chunk: Hash256, snapshotHeight: UInt64) {
        switch verdict {
        case .agree: agreements += 1
        case let .disagree(placement, shadow):
            disagreements += 1
            recentDisagreements.append(Disagreement(chunk: chunk, placement: placement, shadow: shadow, snapshotHeight: snapshotHeight))
            if recentDisagreements.count > Self.keptDisagreements { recentDisagreements.removeFirst() }
        case let .failed(message):
            failures += 1
            lastFailure = message
        }
    }
}
