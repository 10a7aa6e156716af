// Auxiliary router losses as plugins: the paper's task–expert MI loss, switch load
// balance, router z-loss, and cv² of expert importance.
import SquadTensor
import ModSquad
import SquadPluginAPI

final class MIAuxLoss: AuxLossPlugin {
    let name = "mi", summary = "−I(task; expert) from router probabilities, as the authors (weight 0.005)"
    let defaultWeight: Float = 0.005
    func loss(_ record: RouterRecord) throws -> Tensor { try AuxLoss.mutualInformation(record) }
}

final class SwitchAuxLoss: AuxLossPlugin {
    let name = "switch", summary = "Switch Transformer load balance: E·Σ_e f_e·P_e"
    let defaultWeight: Float = 0.01
    func loss(_ record: RouterRecord) throws -> Tensor { try AuxLoss.switchBalance(record) }
}

final class ZAuxLoss: AuxLossPlugin {
    let name = "z", summary = "router z-loss: mean (log Σ exp logits)²"
    let defaultWeight: Float = 0.001
    func loss(_ record: RouterRecord) throws -> Tensor { try AuxLoss.zLoss(record) }
}

final class CVAuxLoss: AuxLossPlugin {
    let name = "cv", summary = "squared coefficient of variation of expert importance Σ_rows p_e"
    let defaultWeight: Float = 0.01
    func loss(_ record: RouterRecord) throws -> Tensor {
        let importance = try record.probs.sum(axis: 0)                 // [E]
        let mean = importance.mean()                                   // [1]
        let variance = try importance.sub(mean).square().mean()
        return try variance.div(mean.square())
    }
}
