// Notebooks: cells on `# %%` markers, the runner (outputs, first failing cell, --keep-going), Markdown and nbformat 4.5 exports, `msq run`, and every notebook in fast mode.
import XCTest
import Foundation
import SquadScript

final class NotebookTests: XCTestCase {
    func testCellsSplitOnPercentMarkers() {
        let text = """
        x = 1
        # %% data
        y = 2

        #%%
        z = 3
        # %% [markdown] Notes
        # A *title*
        #
        # more
        # %%   last cell  
        """
        let cells = Notebook.cells(text)
        XCTAssertEqual(cells.map(\.kind), [.code, .code, .code, .markdown, .code])
        XCTAssertEqual(cells.map(\.title), ["", "data", "", "Notes", "last cell"])
        XCTAssertEqual(cells.map(\.source), ["x = 1", "y = 2", "z = 3", "A *title*\n\nmore", ""])
        XCTAssertEqual(cells.map(\.firstLine), [1, 3, 6, 8, 12])
        XCTAssertTrue(cells[4].isEmpty)
        XCTAssertEqual(Notebook.cells("# %% only\n").count, 1)
        XCTAssertEqual(Notebook.cells("").count, 0)
    }

    let failing = """
    # %% one
    a = 1
    a
    # %% two
    b = (a +
        nothing)
    # %% three
    c = 3
    c
    """

    func testRunnerStopsAtTheFirstFailingCellWithItsFileLocation() {
        let (i, _) = makeSession()
        let file = SourceFile(name: "nb.msq", text: failing)
        let results = NotebookRunner(interpreter: i).run(file)
        XCTAssertEqual(results.count, 3)
        XCTAssertEqual(results[0].number, 1)
        guard case .text("1\n")? = results[0].outputs.first else { return XCTFail("cell one output: \(results[0].outputs)") }
        XCTAssertEqual(results[1].error?.location?.line, 6)
        XCTAssertEqual(results[1].error?.location?.column, 5)
        XCTAssertTrue(results[1].error?.rendered.hasPrefix("nb.msq:6:5: name error: unknown name 'nothing'") ?? false)
        XCTAssertFalse(results[2].ran)
        XCTAssertNil(i.variables["c"])
        let going = NotebookRunner(interpreter: i).run(file, keepGoing: true)
        XCTAssertTrue(going[2].ran)
        XCTAssertEqual(going[2].number, 3)
    }

    func testExportsLinkAndEmbedPictures() throws {
        let (i, _) = makeSession()
        let nb = """
        # %% [markdown]
        # # Toy report
        # %% train
        data = toy()
        m = squad(tasks: data, dim: 16, depth: 2, experts: 4, head_dim: 8)
        step(m, data, n: 2, batch: 8)
        # %% picture
        plot_experts(m, "pics/experts.png")
        # %% broken
        m.nope
        """
        let results = NotebookRunner(interpreter: i).run(SourceFile(name: "toy.msq", text: nb))
        let reportURL = i.directory.appendingPathComponent("reports/toy.md")
        let md = NotebookExport.markdown(results, notebook: "toy.msq", reportURL: reportURL, seconds: 1)
        XCTAssertTrue(md.contains("# Toy report"), md)
        XCTAssertTrue(md.contains("## [1] train\n\n```python\ndata = toy()"), md)
        XCTAssertTrue(md.contains("```text\nstep 1  loss "), md)
        XCTAssertTrue(md.contains("![expert usage](../pics/experts.png)"), md)
        XCTAssertTrue(md.contains("**Error:**") && md.contains("toy.msq:10:3: member error: a model has no member 'nope'"), md)
        let data = try NotebookExport.ipynb(results, notebook: "toy.msq")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(json["nbformat"] as? Int, 4)
        XCTAssertEqual(json["nbformat_minor"] as? Int, 5)
        let cells = try XCTUnwrap(json["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.map { $0["cell_type"] as? String }, ["markdown", "code", "code", "code"])
        let outputs = try XCTUnwrap(cells[2]["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs.first?["output_type"] as? String, "display_data")
        let png = try XCTUnwrap((outputs.first?["data"] as? [String: Any])?["image/png"] as? String)
        XCTAssertEqual(Data(base64Encoded: png)?.prefix(4).map { $0 }, [0x89, 0x50, 0x4E, 0x47])
        XCTAssertEqual((cells[3]["outputs"] as? [[String: Any]])?.last?["output_type"] as? String, "error")
        let path = i.directory.appendingPathComponent("toy.ipynb")
        try data.write(to: path)
        try validateNotebook(path)
    }

    func testRelativePaths() {
        XCTAssertEqual(NotebookExport.relativePath("/a/b/plots/x.png", from: URL(fileURLWithPath: "/a/b")), "plots/x.png")
        XCTAssertEqual(NotebookExport.relativePath("/a/plots/x.png", from: URL(fileURLWithPath: "/a/b/c")), "../../plots/x.png")
    }

    func testMsqRunWritesReportAndNotebookWithAPlot() throws {
        let cwd = temporaryDirectory("msq-run")
        let nb = cwd.appendingPathComponent("plot.msq")
        try """
        # %% [markdown]
        # # A plot
        # %% data and model
        data = scenes(size: 32, train: 64, test: 32, tasks: ["segment", "depth"])
        m = squad(tasks: data, dim: 32, depth: 2, experts: 4, head_dim: 8)
        # %% train
        train(m, data, steps: 3, batch: 16)
        # %% look inside
        plot_experts(m, "out/experts.png")
        """.write(to: nb, atomically: true, encoding: .utf8)
        let r = try MSQBinary.run(["run", "plot.msq", "--report", "reports/plot.md", "--ipynb", "reports/plot.ipynb"], cwd: cwd,
                                  env: ["MSQ_CACHE": sharedCache.path])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("── [3] look inside") && r.out.contains("[image] expert usage: out/experts.png"), r.out)
        let md = try String(contentsOf: cwd.appendingPathComponent("reports/plot.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("![expert usage](../out/experts.png)"), md)
        XCTAssertTrue(md.contains("```text\ntrain 1/3") && md.contains("train 3/3"), md)
        XCTAssertTrue(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("out/experts.png").path))
        try validateNotebook(cwd.appendingPathComponent("reports/plot.ipynb"), expectImages: 1)
    }

    func testMsqRunExitsOneOnTheFirstFailingCell() throws {
        let cwd = temporaryDirectory("msq-run-fail")
        try failing.write(to: cwd.appendingPathComponent("bad.msq"), atomically: true, encoding: .utf8)
        let r = try MSQBinary.run(["run", "bad.msq", "--report", "bad.md"], cwd: cwd)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("bad.msq:6:5: name error: unknown name 'nothing'\n 6 |     nothing)\n   |     ^^^^^^^\n"), r.err)
        XCTAssertFalse(r.out.contains("── [3]"), r.out)
        let md = try String(contentsOf: cwd.appendingPathComponent("bad.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("_not run_"), md)
        let k = try MSQBinary.run(["run", "bad.msq", "--keep-going"], cwd: cwd)
        XCTAssertEqual(k.status, 1)
        XCTAssertTrue(k.out.contains("── [3] three") && k.out.contains("\n3\n"), k.out)
        let missing = try MSQBinary.run(["run", "none.msq"], cwd: cwd)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("cannot read none.msq"), missing.err)
        XCTAssertEqual(try MSQBinary.run(["run", "bad.msq", "--bogus"], cwd: cwd).status, 2)
    }

    /// Every notebook in notebooks/ runs in fast mode: exit 0, a report whose pictures exist, a valid .ipynb.
    func testEveryNotebookRunsInFastMode() throws {
        let dir = Fixtures.repoRoot.appendingPathComponent("notebooks")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".msq") }.sorted()
        XCTAssertTrue(names.contains("quickstart.msq") && names.count >= 5, "\(names)")
        for name in names {
            let cwd = temporaryDirectory("msq-nb")
            let stem = String(name.dropLast(4))
            let r = try MSQBinary.run(["run", dir.appendingPathComponent(name).path, "--report", "\(stem).md", "--ipynb", "\(stem).ipynb"], cwd: cwd,
                                      env: ["MSQ_FAST": "1", "MSQ_CACHE": sharedCache.path])
            XCTAssertEqual(r.status, 0, "\(name):\n\(r.out)\n\(r.err)")
            let md = (try? String(contentsOf: cwd.appendingPathComponent("\(stem).md"), encoding: .utf8)) ?? ""
            XCTAssertFalse(md.isEmpty, "\(name): no report")
            for link in md.components(separatedBy: "](").dropFirst().compactMap({ $0.split(separator: ")").first }) where link.hasSuffix(".png") {
                XCTAssertTrue(FileManager.default.fileExists(atPath: cwd.appendingPathComponent(String(link)).path), "\(name): \(link) missing")
            }
            try validateNotebook(cwd.appendingPathComponent("\(stem).ipynb"))
        }
    }

    /// nbformat.validate on the file (Python's nbformat is installed by scripts/setup.sh --test).
    func validateNotebook(_ url: URL, expectImages: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let script = """
        import sys, nbformat
        nb = nbformat.read(sys.argv[1], as_version=4)
        nbformat.validate(nb)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5), (nb.nbformat, nb.nbformat_minor)
        images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "display_data" and "image/png" in o.data)
        print("valid", images)
        """
        let r = try runPython(script, args: [url.path])
        XCTAssertEqual(r.status, 0, "nbformat validation of \(url.lastPathComponent): \(r.output)", file: file, line: line)
        if let n = expectImages { XCTAssertTrue(r.output.contains("valid \(n)"), r.output, file: file, line: line) }
    }
}
