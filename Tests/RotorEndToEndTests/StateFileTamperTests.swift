import Foundation
import Testing
@testable import RotorCore

/// The SQLite state edited by hand (or by an attacker with the file) in the lock and run
/// rows: every command stops naming the column, never crashes (found by an attacker: a
/// lock row with pid 'abc' stopped every command with a fatal error, exit 132), and
/// `unlock` breaks nothing it cannot read.
@Suite struct StateFileTamperTests {
    @Test func rowsOfTheWrongTypeStopRotorByName() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        #expect(try RotorProcess.run(["rotate", "api-key"], in: scratch.url).status == 0)
        let database = scratch.url.appendingPathComponent(".rotor/state.db").path
        let tampered: [(String, String)] = [
            ("INSERT INTO locks (key, host, pid, run_id, expires, token, process) VALUES ('api-key', 'elsewhere', 'abc', 'r1', strftime('%s','now') + 600, 5, '')", "pid"),
            ("UPDATE locks SET pid = 1.5", "pid"),
            ("UPDATE locks SET pid = 77, expires = 'abc'", "expires"),
            ("UPDATE locks SET expires = X'00'", "expires"),
            ("UPDATE locks SET expires = strftime('%s','now') + 600, process = X'ff00fe'", "process"),
        ]
        for (sql, column) in tampered {
            try OperationsTests.sqlite(database, sql)
            for command in [["unlock", "api-key"], ["rotate", "api-key"], ["state", "check"]] {  // (`run` with nothing due reads no lock)
                let result = try RotorProcess.run(command, in: scratch.url)
                #expect(result.status == 1 || result.status == 3, "\(sql) → \(command): \(result.status) \(result.stdout)\(result.stderr)")
                #expect((result.stdout + result.stderr).contains("in \(column), which rotor never writes"), "\(sql) → \(command): \(result.stdout)\(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains("kill -TERM"))
            }
        }
        try OperationsTests.sqlite(database, "DELETE FROM locks; UPDATE runs SET started = 'zzz'")
        let recovered = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(recovered.status == 1 || recovered.status == 3, "\(recovered.stdout)\(recovered.stderr)")
        #expect((recovered.stdout + recovered.stderr).contains("in started, which rotor never writes"), "\(recovered.stdout)\(recovered.stderr)")
    }
}
