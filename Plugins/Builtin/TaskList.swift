// The built-in task plugins, in the order `plugins` lists them.
import SquadPluginAPI

func builtinTasks() -> [TaskPlugin] { [] }
