// msq example: trains a small ViT on a toy task.
import Foundation
import SquadTensor
import SquadNN

enum Example {
    static func run(_ args: [String]) throws -> Int32 { return 1 }
}
