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
        // A lease without identity naming pid 1 (always alive) is a person's to free (found
        // by an attacker: it blocked the key until 2286).
        try OperationsTests.sqlite(database, "DELETE FROM locks; INSERT INTO locks (key, host, pid, run_id, expires, token, process) VALUES ('api-key', '\(ProcessInfo.processInfo.hostName)', 1, 'r-hostile', 9999999999, 99, '')")
        let unlocked = try RotorProcess.run(["unlock", "api-key"], in: scratch.url)
        #expect(unlocked.status == 0, "\(unlocked.stdout)\(unlocked.stderr)")
        // The audit log's newest sequence at the top of its range: damage, not a trap.
        try OperationsTests.sqlite(database, "DELETE FROM locks; UPDATE audit SET entry = json_set(entry, '$.sequence', 9223372036854775807)")
        let overflow = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
        #expect(overflow.status == 3 && overflow.stdout.contains("sequence 9223372036854775807, which rotor never writes"), "\(overflow.status) \(overflow.stdout)\(overflow.stderr)")
        // A state path with a control character is printed escaped.
        let odd = try RotorProcess.run(["state", "check", "--state", "sqlite:odd\u{1B}[2J.db"], in: scratch.url)
        #expect(odd.status == 0 && !odd.stdout.contains("\u{1B}") && odd.stdout.contains("\\x1b"), "\(odd.stdout)\(odd.stderr)")
        try OperationsTests.sqlite(database, "DELETE FROM locks; UPDATE runs SET started = 'zzz'")
        let recovered = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(recovered.status == 1 || recovered.status == 3, "\(recovered.stdout)\(recovered.stderr)")
        #expect((recovered.stdout + recovered.stderr).contains("in started, which rotor never writes"), "\(recovered.stdout)\(recovered.stderr)")
    }

    /// A key state rotor cannot read stops recovery before it touches a target (found by an
    /// attacker: it restored the targets and reloaded first, then said it acted on nothing),
    /// and its text reaches the terminal escaped.
    @Test func anUnreadableKeyStateStopsRecoveryBeforeItActs() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        try SharedStateFaultTests.rotationKilledInItsReload(in: scratch)
        let written = try scratch.bytes("deploy/first.env")
        let database = scratch.url.appendingPathComponent(".rotor/state.db").path
        try OperationsTests.sqlite(database, "INSERT OR REPLACE INTO keys (name, current, previous) VALUES ('api-key', '{\"created\":1,\"fingerprint\":\"f\u{1B}[2J\",\"id\":\"i\"}', NULL)")
        let recovered = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(recovered.status != 0 && (recovered.stdout + recovered.stderr).contains("nothing was touched"), "\(recovered.stdout)\(recovered.stderr)")
        #expect(try scratch.bytes("deploy/first.env") == written, "the target as the interrupted run left it")
        for command in [["recover"], ["status"], ["state", "check"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(!(result.stdout + result.stderr).contains("\u{1B}"), "\(command): a raw escape reached the terminal")
        }
    }
}

/// A run of another host whose lease is gone (its store failed, or an older rotor wrote it)
/// is left to that host, and `unlock` is the way out when that host is gone for good.
@Suite struct LeaselessRunTests {
    @Test func aRunOfAGoneHostWithoutALeaseIsReleasedByUnlock() throws {
        let scratch = try SharedStateTests.slowReloadScene()
        try SharedStateFaultTests.rotationKilledInItsReload(in: scratch)
        try OperationsTests.sqlite(scratch.url.appendingPathComponent(".rotor/state.db").path, "UPDATE runs SET host = 'gone-host'; DELETE FROM locks")

        let left = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(left.status == 3 && left.stdout.contains("was interrupted on gone-host"), "\(left.stdout)\(left.stderr)")
        // No lease row names it, and still no rotation starts beside it (found in review).
        let written = try scratch.bytes("deploy/first.env")
        let rotated = try RotorProcess.run(["rotate", "api-key"], in: scratch.url)
        #expect(rotated.status == 3 && rotated.stdout.contains("(started on gone-host) is unfinished: nothing was done"), "\(rotated.stdout)\(rotated.stderr)")
        #expect(try scratch.bytes("deploy/first.env") == written)
        let unlocked = try RotorProcess.run(["unlock", "api-key"], in: scratch.url)
        #expect(unlocked.status == 0 && unlocked.stdout.contains("(started on gone-host, its lease already gone) may now be recovered here"), "\(unlocked.stdout)\(unlocked.stderr)")
        let recovered = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)\(recovered.stderr)")
        #expect(String(decoding: try scratch.bytes("deploy/first.env"), as: UTF8.self) == "API_KEY=initial\n")
        #expect(try RotorProcess.run(["history", "--verify"], in: scratch.url).status == 0)
    }
}
