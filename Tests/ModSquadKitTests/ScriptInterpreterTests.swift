// The interpreter: values and their one-line summaries, variables, operators, calls, and every runtime error kind with its location.
import XCTest
import SquadScript

final class ScriptInterpreterTests: XCTestCase {
    func testExpressionStatementsPrintSummaries() {
        let (i, _) = makeSession()
        XCTAssertEqual(exec(i, "x = 1 + 2 * 3"), "")
        XCTAssertEqual(exec(i, "x"), "7\n")
        XCTAssertEqual(exec(i, "1e-3; 2.5; -4; 10 / 4"), "0.001\n2.5\n-4\n2.5\n")
        XCTAssertEqual(exec(i, "\"a\" + 'b'"), "ab\n")
        XCTAssertEqual(exec(i, "[1, \"two\", [true, none]] + [3]"), "[1, \"two\", [true, none], 3]\n")
        XCTAssertEqual(exec(i, "[0] * 3"), "[0, 0, 0]\n")
        XCTAssertEqual(exec(i, "true; false; none"), "true\nfalse\n")
        XCTAssertEqual(exec(i, "xs = [10, 20, 30]\nxs[0]; xs[-1]; xs.length; len(xs); \"hey\"[1]"), "10\n30\n3\n3\ne\n")
        XCTAssertEqual(exec(i, "len"), "<builtin len(value)>\n")
        XCTAssertEqual(exec(i, "len.doc"), "The number of items of a list or characters of a string.\n")
        XCTAssertEqual(exec(i, "print(\"loss\", 0.5, [1, 2])"), "loss 0.5 [1, 2]\n")
        XCTAssertEqual(i.variableOrder, ["x", "xs"])
    }

    func testLongListsAreCutToOneLine() {
        let (i, _) = makeSession()
        let out = exec(i, "[\"" + String(repeating: "a", count: 50) + "\"] * 10")
        XCTAssertEqual(out.split(separator: "\n").count, 1)
        XCTAssertTrue(out.contains("more"), out)
    }

    func testUnknownNameSuggestsNearest() {
        let (i, _) = makeSession()
        exec(i, "epochs = 3")
        assertError(execError(i, "x = 1\ny = epoch + 1"), .name, line: 2, column: 5, "unknown name 'epoch'", "did you mean 'epochs'?")
        assertError(execError(i, "sqaud()"), .name, line: 1, column: 1, "did you mean 'squad'?")
        assertError(execError(i, "True"), .name, line: 1, column: 1, "did you mean 'true'?")
        assertError(execError(i, "zzzqqq"), .name, line: 1, column: 1, "unknown name 'zzzqqq'")
    }

    func testUnknownMemberListsMembers() {
        let (i, _) = makeSession()
        exec(i, "data = toy()")
        let e = execError(i, "data.taks")
        assertError(e, .member, line: 1, column: 6, "a dataset has no member 'taks'", "did you mean 'tasks'?", "members: name, tasks")
        assertError(execError(i, "n = 3\nn.size"), .member, line: 2, column: 3, "the number 3 has no member 'size'")
    }

    func testCallErrorsNameTheParameter() {
        let (i, _) = makeSession()
        exec(i, "data = toy()")
        exec(i, "m = squad(tasks: data, dim: 16, depth: 2, experts: 4)")
        assertError(execError(i, "train(m, data, epoch: 2)"), .argument, line: 1, column: 16, "train has no parameter 'epoch'", "did you mean 'epochs'?")
        assertError(execError(i, "train(m, data, epochs: \"two\")"), .argument, line: 1, column: 16,
                    "train: parameter 'epochs' expects a number, got the string \"two\"")
        assertError(execError(i, "train(m, batch: 2.5, data: data)"), .argument, line: 1, column: 10, "parameter 'batch' expects an integer, got the number 2.5")
        assertError(execError(i, "train(m)"), .argument, line: 1, column: 1, "missing the required argument 'data'", "signature: train(model, data")
        assertError(execError(i, "len([1], [2])"), .argument, line: 1, column: 10, "len takes at most 1 positional argument")
        assertError(execError(i, "len([1], value: [2])"), .argument, line: 1, column: 10, "'value' is given twice")
        assertError(execError(i, "train(data, m)"), .argument, line: 1, column: 7, "parameter 'model' expects a model or a list, got a dataset")
        assertError(execError(i, "squad(layout: \"twisted\")"), .argument, line: 1, column: 7, "parameter 'layout' expects one of \"alternate\"")
        assertError(execError(i, "train(m, data, batch: 0)"), .argument, line: 1, column: 16, "parameter 'batch' must be in [1, 65536], got 0")
        assertError(execError(i, "toy(trian: 10)"), .argument, line: 1, column: 5, "toy has no parameter 'trian'", "did you mean 'train'?")
        assertError(execError(i, "toy(tasks: [\"nope\"])"), .argument, line: 1, column: 5, "toy: parameter 'tasks' has unknown task 'nope'")
        assertError(execError(i, "squad(tasks: [\"tsge\"])"), .argument, line: 1, column: 7, "names no task plugin: 'tsge'", "did you mean 'tseg'?")
    }

    func testTypeValueAndIndexErrors() {
        let (i, _) = makeSession()
        assertError(execError(i, "x = 1\nx(2)"), .type, line: 2, column: 1, "'x' is the number 1, not a function")
        assertError(execError(i, "1 + \"a\""), .type, line: 1, column: 1, "cannot add the number 1 and the string \"a\"")
        assertError(execError(i, "-\"a\""), .type, line: 1, column: 1, "cannot negate")
        assertError(execError(i, "3 / (1 - 1)"), .value, line: 1, column: 1, "division by zero")
        assertError(execError(i, "[1, 2][5]"), .index, line: 1, column: 8, "index 5 is out of range for a list of 2")
        assertError(execError(i, "[1, 2][1e300]"), .index, line: 1, column: 8, "out of range")
        assertError(execError(i, "[1, 2][0.5]"), .type, line: 1, column: 8, "must be an integer")
        assertError(execError(i, "3[0]"), .type, line: 1, column: 1, "cannot index the number 3")
        assertError(execError(i, "len(3)"), .argument, line: 1, column: 5, "expects a list or a string")
    }

    func testEngineErrorsAreLocatedAtTheCall() {
        let (i, _) = makeSession()
        exec(i, "data = toy(size: 8)")
        // patch 3 does not divide 8: the message comes from the model, located at the argument
        assertError(execError(i, "m = squad(tasks: data, patch: 3)"), .argument, line: 1, column: 24, "image 8 is not a multiple of patch 3")
        exec(i, "m = squad(tasks: [\"tseg\"], image: 8, dim: 16, depth: 2, experts: 4)")
        assertError(execError(i, "\n  detach(m, \"tmap\")"), .argument, line: 2, column: 13, "names no task of the model: 'tmap'")
        assertError(execError(i, "attach(m, \"tseg\")"), .runtime, line: 1, column: 1, "attach: task 'tseg' is already attached")
        assertError(execError(i, "squad(tasks: data, top_k: 5, experts: 4)"), .argument, line: 1, column: 20, "top_k' must be at most the 4 experts")
    }

    func testErrorsLeaveTheSessionUsable() {
        let (i, _) = makeSession()
        exec(i, "a = 1")
        _ = execError(i, "b = a + nope")
        XCTAssertNil(i.variables["b"])
        XCTAssertEqual(exec(i, "a + 1"), "2\n")
    }

    func testStatementsBeforeAnErrorTakeEffect() {
        let (i, _) = makeSession()
        let e = execError(i, "a = 1\nb = 2\nc = a + zz\nd = 4")
        XCTAssertEqual(e?.location?.line, 3)
        XCTAssertNotNil(i.variables["b"]); XCTAssertNil(i.variables["d"])
    }

    func testHelpAndPlugins() throws {
        let (i, _) = makeSession()
        let all = exec(i, "help()")
        for name in ["squad", "vit", "attach", "detach", "step", "eval_step", "train", "eval", "extract", "finetune", "save", "load",
                     "plot_experts", "plot_relations", "plot_curves", "plot_predictions", "plot_routes", "load_plugin", "plugins", "help", "toy"] {
            XCTAssertTrue(all.contains("    \(name) "), "help() lacks \(name)")
        }
        let one = exec(i, "help(train)")
        XCTAssertTrue(one.hasPrefix("train(model, data, epochs: 1"), one)
        XCTAssertTrue(one.contains("lr: peak learning rate"), one)
        XCTAssertTrue(exec(i, "help(\"toy\")").contains("toy(size: 8, train: 64, test: 16, tasks: [\"tseg\", \"tmap\", \"tcls\"])"))
        XCTAssertTrue(try i.helpText("tseg").contains("task plugin 'tseg'"))
        assertError(execError(i, "help(\"trian\")"), .name, line: 1, column: 1, "no help for 'trian'", "did you mean 'train'?")
        let p = exec(i, "plugins()")
        XCTAssertTrue(p.contains("dataset") && p.contains("toy") && p.contains("tseg"), p)
    }

    func testLoadPluginErrorsAreContained() {
        let (i, _) = makeSession()
        assertError(execError(i, "load_plugin(\"no/such/libX.so\")"), .value, line: 1, column: 1, "load_plugin: no file at")
        let libz = ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1"]
            .first { FileManager.default.fileExists(atPath: $0) }
        if let z = libz {
            assertError(execError(i, "load_plugin(\"\(z)\")"), .runtime, line: 1, column: 1, "not a ModSquad plugin")
        }
        XCTAssertEqual(exec(i, "1 + 1"), "2\n")
    }

    func testEveryBuiltinHasADocAndDocumentedParameters() {
        let (i, _) = makeSession()
        for b in i.table.all {
            XCTAssertFalse(b.doc.isEmpty, b.name)
            for p in b.params { XCTAssertFalse(p.doc.isEmpty, "\(b.name).\(p.name)") }
        }
    }

    func testPluginsExtendTheTable() {
        let (i, _) = makeSession()
        i.table.register(Builtin("twice", [ParamSpec("x", .number, nil, "a number")], doc: "Doubles a number.", category: "plugins") { ctx in
            .number(2 * (try ctx.number("x") ?? 0))
        })
        XCTAssertEqual(exec(i, "twice(21)"), "42\n")
        XCTAssertTrue(exec(i, "help(\"twice\")").contains("Doubles a number."))
        XCTAssertTrue(i.table.names.contains("twice"))
    }

    func testCompletion() {
        let (i, _) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4)\nmy_list = [1]")
        XCTAssertEqual(Completer.complete(i, before: "sq", word: "sq"), ["squad"])
        XCTAssertEqual(Completer.complete(i, before: "m", word: "m"), ["m", "my_list"])
        XCTAssertEqual(Completer.complete(i, before: "m.pa", word: "m.pa"), ["m.params", "m.patch"])
        XCTAssertEqual(Completer.complete(i, before: "data.ta", word: "data.ta"), ["data.tasks"])
        XCTAssertEqual(Completer.complete(i, before: "x = m.config.se", word: "m.config.se"), ["m.config.seed"])
        let named = Completer.complete(i, before: "train(m, data, ep", word: "ep") ?? []
        XCTAssertEqual(named.first, "epochs:")
        let multi = Completer.complete(i, before: "train(m, data,\n  epochs: 2, ba", word: "ba") ?? []
        XCTAssertEqual(multi, ["batch:", "baseline"])
        XCTAssertFalse((Completer.complete(i, before: "train(m, data, epochs: 1, e", word: "e") ?? []).contains("epochs:"))
        XCTAssertEqual(Completer.complete(i, before: ":he", word: ":he"), [":help"])
        XCTAssertEqual(Completer.complete(i, before: ":help tra", word: "tra"), ["train"])
        XCTAssertNil(Completer.complete(i, before: ":load note", word: "note"))
        XCTAssertEqual(Completer.complete(i, before: "extract(m, \"tse", word: "tse"), ["tseg"])
        XCTAssertEqual(Completer.complete(i, before: "squad(layout: \"al", word: "al"), ["alternate"])
    }

    func testInterruptStopsAtAStepBoundary() {
        let (i, _) = makeSession()
        exec(i, "data = toy()\nm = squad(tasks: data, dim: 16, depth: 2, experts: 4)")
        ScriptInterrupt.request()
        let e = execError(i, "train(m, data, steps: 50, batch: 8)\nafter = 1")
        ScriptInterrupt.clear()
        assertError(e, .interrupted, line: 1, column: 1, "stopped after step 1 (1 of 50", "keeps its trained weights")
        XCTAssertNil(i.variables["after"])
        XCTAssertEqual(exec(i, "m.step"), "1\n")
        let out = exec(i, "s = step(m, data, n: 2, batch: 8)\ns.step")
        XCTAssertTrue(out.hasPrefix("step 2  loss "), out)
        XCTAssertTrue(out.hasSuffix("\n3\n"), out)
    }
}
