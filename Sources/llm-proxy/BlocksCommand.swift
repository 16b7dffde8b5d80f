import ArgumentParser
import Foundation
import Store

/// `llm-proxy blocks …`: the automatic block list in the store the configuration names. A
/// running gateway drops a lifted block within seconds (its sync with the store).
struct BlocksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocks",
        abstract: "List and lift blocked client addresses.",
        subcommands: [List.self, Lift.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the addresses blocked now.")

        @OptionGroup var store: KeysCommand.StoreOptions

        func run() async throws {
            let store = try await store.open()
            let blocks: [StoredBlock]
            do {
                blocks = try await store.activeBlocks(now: WallClock.nowMs())
            } catch {
                await store.close()
                throw ValidationError("cannot read the block list: \(error)")
            }
            await store.close()
            if blocks.isEmpty {
                print("no address is blocked")
                return
            }
            let rows =
                [["ADDRESS", "REASON", "SINCE", "UNTIL", "STRIKES"]]
                + blocks.map { block in
                    [block.address, block.reason, KeysCommand.Create.date(block.createdAt), KeysCommand.Create.date(block.expiresAt), String(block.strikes + 1)]
                }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }

    struct Lift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the block of an address.")

        @OptionGroup var store: KeysCommand.StoreOptions
        @Argument(help: "The blocked address, as listed.")
        var address: String

        func run() async throws {
            let store = try await store.open()
            let lifted: Bool
            do {
                lifted = try await store.liftBlock(address: address, now: WallClock.nowMs())
            } catch {
                await store.close()
                throw ValidationError("cannot lift the block: \(error)")
            }
            await store.close()
            guard lifted else { throw ValidationError("\(address) is not blocked") }
            print("lifted the block of \(address); running gateways drop it within seconds")
        }
    }
}
