// The msq language: lexer, parser, interpreter, values, builtins, diagnostics.
import SquadTensor
