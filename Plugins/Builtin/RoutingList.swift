// The built-in gating strategies and auxiliary losses.
import SquadPluginAPI

func builtinGatings() -> [GatingPlugin] {
    [TopKGating(), NoisyTopKGating(), SharedRouterGating(), DenseGating(), ExpertChoiceGating()]
}

func builtinAuxLosses() -> [AuxLossPlugin] {
    [MIAuxLoss(), SwitchAuxLoss(), ZAuxLoss(), CVAuxLoss()]
}
