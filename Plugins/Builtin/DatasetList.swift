// The built-in dataset plugins.
import SquadPluginAPI

func builtinDatasets() -> [DatasetPlugin] { [] }
