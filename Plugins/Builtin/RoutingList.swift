// The built-in gating strategies and auxiliary losses.
import SquadPluginAPI

func builtinGatings() -> [GatingPlugin] { [] }
func builtinAuxLosses() -> [AuxLossPlugin] { [] }
