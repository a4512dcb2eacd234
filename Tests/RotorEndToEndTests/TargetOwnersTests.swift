import Foundation
import Testing
@testable import RotorCore

/// rotor as root, and a target whose folder belongs to the app's user (issue 17, item 2):
/// that user could point the target at any file root can read or write. Such a target is
/// refused at preflight (logrotate's rule) unless its consumer names `user: NAME`; then its
/// files are read and written as that user, who cannot reach root's files through a link.
@Suite(.serialized, .enabled(if: getuid() == 0, "creates a user and needs root")) struct TargetOwnersTests {
    static let user = "rotor-app"

    /// A scratch folder with one generated key; `deploy/app/` (and its `.env`) belong to
    /// the app user; the consumer names `user:` when `named`.
    static func setup(named: Bool) throws -> (Scratch, uid: uid_t, gid: gid_t) {
        if getpwnam(user) == nil {
            _ = try RotorProcess.spawn(["/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
        }
        let uid = try #require(getpwnam(user)?.pointee.pw_uid), gid = try #require(getpwnam(user)?.pointee.pw_gid)
        let scratch = try Scratch()
        try scratch.writeGeneratedKey()
        try scratch.writeHookConsumer((named ? "    user: \(user)\n" : "") + "    targets: [{ env_file: ../deploy/app/.env, var: HOOK }]")
        try scratch.write("deploy/app/.env", "HOOK=whsec_initial\n")
        // Traversable whatever the umask (another test may have narrowed it): the user
        // must reach its own folder.
        for folder in ["", "deploy"] { chmod(scratch.url.appendingPathComponent(folder).path, 0o755) }
        chmod(scratch.url.appendingPathComponent("deploy/app").path, 0o755)
        chmod(scratch.url.appendingPathComponent("deploy/app/.env").path, 0o640)
        #expect(chown(scratch.url.appendingPathComponent("deploy/app").path, uid, gid) == 0)
        #expect(chown(scratch.url.appendingPathComponent("deploy/app/.env").path, uid, gid) == 0)
        return (scratch, uid, gid)
    }

    /// `user-home/`, the app user's folder, holding the user's link NAME to `destination` (in
    /// the scratch folder) under `root-only/`, which only root can enter. The folder's path.
    static func userLink(in scratch: Scratch, named name: String, to destination: String, uid: uid_t, gid: gid_t) throws -> String {
        chmod(scratch.url.appendingPathComponent("root-only").path, 0o700)
        let userFolder = scratch.url.appendingPathComponent("user-home").path
        #expect(mkdir(userFolder, 0o755) == 0 && chown(userFolder, uid, gid) == 0)
        #expect(symlink(scratch.url.appendingPathComponent(destination).path, userFolder + "/" + name) == 0)
        #expect(lchown(userFolder + "/" + name, uid, gid) == 0)
        return userFolder
    }

    @Test func aFolderAnotherUserCanWriteIsRefusedAsRoot() throws {
        let (scratch, _, _) = try Self.setup(named: false)
        for command in [["plan"], ["rotate", "hook"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1, "\(command): \(result.stdout)")
            #expect(result.stdout.contains("can be written by \(Self.user)") && result.stdout.contains("user: \(Self.user)"), "\(command): \(result.stdout)")
        }
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/app/.env"), encoding: .utf8) == "HOOK=whsec_initial\n")
    }

    /// Found by an attacker: only the target's own folder was checked. A folder above it
    /// that the app user owns lets them swap the whole subtree (for a link, or a folder of
    /// their own): refused too, at plan (without reading the file) and preflight.
    @Test func aFolderAboveTheTargetOwnedByAnotherUserIsRefused() throws {
        let (scratch, uid, gid) = try Self.setup(named: false)
        let app = scratch.url.appendingPathComponent("deploy/app").path
        #expect(chown(app, 0, 0) == 0 && chown(app + "/.env", 0, 0) == 0)
        #expect(chown(scratch.url.appendingPathComponent("deploy").path, uid, gid) == 0)
        for command in [["plan"], ["rotate", "hook"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1, "\(command): \(result.stdout)")
            #expect(result.stdout.contains("folder \(scratch.url.appendingPathComponent("deploy").path) can be written by \(Self.user)"), "\(command): \(result.stdout)")
            #expect(!result.stdout.contains("sha256:"), "plan shows no fingerprint of a file it refuses: \(result.stdout)")
        }
    }

    /// Found by an attacker: `rollback RUN` (and `recover`) resolved the path afresh in a new
    /// process and wrote the restored secret into a folder the attacker had swapped in.
    @Test func rollbackRunRefusesATargetWhoseFoldersAnotherUserNowOwns() throws {
        let (scratch, uid, gid) = try Self.setup(named: false)
        let app = scratch.url.appendingPathComponent("deploy/app").path
        #expect(chown(app, 0, 0) == 0 && chown(app + "/.env", 0, 0) == 0)
        let policy = String(decoding: try scratch.bytes("policies/key.yaml"), as: UTF8.self)
        try scratch.write("policies/key.yaml", policy.replacingOccurrences(of: "grace: 0s", with: "grace: 1h"))
        #expect(try RotorProcess.run(["rotate", "hook"], in: scratch.url).status == 0)
        let second = try RotorProcess.run(["rotate", "hook", "--json"], in: scratch.url)
        let run = try #require(((try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])?["keys"] as? [[String: Any]])?.first?["run"] as? String)
        // The app user now owns deploy/ and swaps in a folder of their own.
        let deploy = scratch.url.appendingPathComponent("deploy").path
        #expect(chown(deploy, uid, gid) == 0)
        #expect(rename(app, app + ".real") == 0)
        try scratch.write("deploy/app/.env", "HOOK=attacker\n")
        chmod(app + "/.env", 0o644)
        let result = try RotorProcess.run(["rollback", run], in: scratch.url)
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("can be written by \(Self.user)"), "\(result.stdout)")
        #expect(try String(contentsOfFile: app + "/.env", encoding: .utf8) == "HOOK=attacker\n", "nothing written into the attacker's file")
    }

    /// Found by an attacker: `status` and `report` read, as root, a target that `plan` and
    /// preflight refuse — the folder's owner linked it to a root-only file — and showed its
    /// fingerprint (a guessable value's hash, on a page meant to be shared). Not read now.
    @Test func statusAndReportDoNotReadATargetPlanRefuses() throws {
        let (scratch, _, _) = try Self.setup(named: false)
        try scratch.write("root-only/secret.env", "HOOK=hunter2\n")
        chmod(scratch.url.appendingPathComponent("root-only").path, 0o700)
        let target = scratch.url.appendingPathComponent("deploy/app/.env").path
        #expect(unlink(target) == 0)
        #expect(symlink(scratch.url.appendingPathComponent("root-only/secret.env").path, target) == 0)
        let status = try RotorProcess.run(["status", "--json"], in: scratch.url)
        let report = try RotorProcess.run(["report", "--html", "-"], in: scratch.url)
        #expect(report.status == 0, "\(report.stderr)")
        let leaked = Fingerprint.of("hunter2")
        for output in [status.stdout, report.stdout] {
            #expect(!output.contains(leaked), "a fingerprint of the root-only value: \(output.prefix(300))")
            #expect(output.contains("refused: its folder is not root"), "\(output.prefix(600))")
        }
    }

    /// Found by a second attack: the target is root's link, in root's folder, to a link in
    /// the app user's folder, which the user points at a root-only file. Only the path as
    /// written and the final file were checked; every link on the way counts now.
    @Test func aChainOfLinksThroughAnotherAccountsFolderIsRefused() throws {
        let (scratch, uid, gid) = try Self.setup(named: false)
        let app = scratch.url.appendingPathComponent("deploy/app").path
        #expect(chown(app, 0, 0) == 0)
        try scratch.write("root-only/victim.env", "HOOK=hunter2\n")
        let userFolder = try Self.userLink(in: scratch, named: "fl.env", to: "root-only/victim.env", uid: uid, gid: gid)
        #expect(unlink(app + "/.env") == 0 && symlink(userFolder + "/fl.env", app + "/.env") == 0)
        for command in [["plan"], ["rotate", "hook"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(result.status == 1, "\(command): \(result.stdout)")
            #expect(result.stdout.contains("folder \(userFolder) can be written by \(Self.user)"), "\(command): \(result.stdout)")
        }
        let status = try RotorProcess.run(["status", "--json"], in: scratch.url)
        #expect(!status.stdout.contains(Fingerprint.of("hunter2")) && status.stdout.contains("refused"), "\(status.stdout)")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("root-only/victim.env"), encoding: .utf8) == "HOOK=hunter2\n")
    }

    /// Found by a second attack: as root, `report --html` into a folder another account
    /// owns (or through its link) let that account choose where root writes. Refused, as
    /// for targets; nothing written anywhere.
    @Test func reportAsRootWritesNoPageWhereAnotherAccountChoosesTheFile() throws {
        let (scratch, uid, gid) = try Self.setup(named: true)
        try scratch.write("root-only/fleet.html", "root's\n")
        let userFolder = try Self.userLink(in: scratch, named: "reports", to: "root-only", uid: uid, gid: gid)
        for file in [userFolder + "/reports/fleet.html", userFolder + "/fleet.html"] {
            let result = try RotorProcess.run(["report", "--html", file], in: scratch.url)
            #expect(result.status == 1 && result.stderr.contains("can be written by \(Self.user)") && result.stderr.contains("nothing was written"), "\(result.stderr)")
        }
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("root-only/fleet.html"), encoding: .utf8) == "root's\n")
        #expect(!FileManager.default.fileExists(atPath: userFolder + "/fleet.html"))
        // A sticky folder of root's (like /tmp) is fine: no one else can replace root's entry
        // there, and FILE is never followed; a link another account put there is refused.
        let shared = scratch.url.appendingPathComponent("shared").path
        #expect(mkdir(shared, 0o777) == 0 && chmod(shared, 0o1777) == 0)
        let written = try RotorProcess.run(["report", "--html", shared + "/fleet.html"], in: scratch.url)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(symlink(scratch.url.appendingPathComponent("root-only").path, shared + "/reports") == 0 && lchown(shared + "/reports", uid, gid) == 0)
        let planted = try RotorProcess.run(["report", "--html", shared + "/reports/fleet.html"], in: scratch.url)
        #expect(planted.status == 1 && planted.stderr.contains("can be written by anyone"), "\(planted.stderr)")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("root-only/fleet.html"), encoding: .utf8) == "root's\n")
    }

    /// Found by an attacker (issue 19): with `user:`, `plan` and the dry runs read the
    /// target as root, so the user's link to a root-only file showed that file's
    /// fingerprint (rotate refused it). They read as the user now, as preflight does.
    @Test func planReadsAUserConsumersTargetAsThatUser() throws {
        let (scratch, _, _) = try Self.setup(named: true)
        try scratch.write("root-only/secret.env", "HOOK=hunter2\n")
        chmod(scratch.url.appendingPathComponent("root-only").path, 0o700)
        chmod(scratch.url.appendingPathComponent("root-only/secret.env").path, 0o600)
        let target = scratch.url.appendingPathComponent("deploy/app/.env").path
        #expect(unlink(target) == 0)
        #expect(symlink(scratch.url.appendingPathComponent("root-only/secret.env").path, target) == 0)
        _ = lchown(target, getpwnam(Self.user)!.pointee.pw_uid, getpwnam(Self.user)!.pointee.pw_gid)
        for command in [["plan"], ["rotate", "hook", "--dry-run"], ["status"]] {
            let result = try RotorProcess.run(command, in: scratch.url)
            #expect(!result.stdout.contains(Fingerprint.of("hunter2")) && !result.stderr.contains(Fingerprint.of("hunter2")), "\(command): \(result.stdout)")
            #expect(result.status != 0, "\(command): \(result.stdout)")
        }
        #expect(try RotorProcess.run(["plan"], in: scratch.url).stdout.contains("permission denied"))
    }

    @Test func withUserTheFilesAreWrittenAsThatUser() throws {
        let (scratch, uid, gid) = try Self.setup(named: true)
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        var info = stat()
        #expect(stat(scratch.url.appendingPathComponent("deploy/app/.env").path, &info) == 0)
        #expect(info.st_uid == uid && info.st_gid == gid && info.st_mode & 0o777 == 0o640, "owner and mode kept")
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("deploy/app/.env"), encoding: .utf8) != "HOOK=whsec_initial\n")
    }

    /// The issue's attack: while the health check runs, a second process (here the check
    /// itself) re-points the user's target at a root-only file and fails; the rollback must
    /// not follow the link: the root-only file untouched, nothing of it in the user's file.
    @Test func aLinkSwappedWhileHealthRunsIsNotFollowedByTheRollback() throws {
        let (scratch, uid, _) = try Self.setup(named: true)
        try scratch.write("root-only/secret.env", "HOOK=root-only-value\n")
        chmod(scratch.url.appendingPathComponent("root-only").path, 0o700)
        chmod(scratch.url.appendingPathComponent("root-only/secret.env").path, 0o600)
        let target = scratch.url.appendingPathComponent("deploy/app/.env").path
        let rootOnly = scratch.url.appendingPathComponent("root-only/secret.env").path
        let manifest = String(decoding: try scratch.bytes("consumers/app.yaml"), as: UTF8.self)
        try scratch.write("consumers/app.yaml", manifest + "\n    health: { exec: [setpriv, --reuid=\(uid), --regid=\(uid), --clear-groups, --, sh, -c, \"mv \(target) \(target).kept && ln -s \(rootOnly) \(target); exit 1\"] }\n")
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
        #expect(try String(contentsOfFile: rootOnly, encoding: .utf8) == "HOOK=root-only-value\n", "root's file untouched")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: target)) == rootOnly, "the link was not replaced by a file")
        #expect(!result.stdout.contains("root-only-value") && !result.stderr.contains("root-only-value"))
    }

    /// Found by an operator: with `user:`, a file whose owner or group that user cannot give
    /// a new file failed halfway through the rotation ("Operation not permitted"). Its
    /// groups are the user's own now, and what cannot be kept is refused at preflight.
    @Test func aUserKeepsItsGroupsAndAnOwnerItCannotKeepIsRefusedAtPreflight() throws {
        let (scratch, uid, _) = try Self.setup(named: true)
        let group = "rotor-web"
        if getgrnam(group) == nil { _ = try RotorProcess.spawn(["/usr/sbin/groupadd", "--system", group]) }
        _ = try RotorProcess.spawn(["/usr/sbin/usermod", "-aG", group, Self.user])
        let web = try #require(getgrnam(group)?.pointee.gr_gid)
        let file = scratch.url.appendingPathComponent("deploy/app/.env").path
        #expect(chown(file, uid, web) == 0)
        let kept = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(kept.status == 0, "a group the user is in is kept: \(kept.stdout)")
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_gid == web)

        #expect(chown(file, 0, web) == 0)
        let refused = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refused.stdout.contains("preflight failed") && refused.stdout.contains("belongs to root"), "\(refused.stdout)")
    }

    /// The attack: the app user points its target at a file only root may read. With
    /// `user:` rotor reads it as that user: refused, nothing disclosed or written.
    @Test func aLinkToARootOnlyFileIsRefusedWhenReadAsTheUser() throws {
        let (scratch, _, _) = try Self.setup(named: true)
        try scratch.write("root-only/secret.env", "HOOK=root-only-value\n")
        chmod(scratch.url.appendingPathComponent("root-only").path, 0o700)
        chmod(scratch.url.appendingPathComponent("root-only/secret.env").path, 0o600)
        let target = scratch.url.appendingPathComponent("deploy/app/.env").path
        unlink(target)
        #expect(symlink(scratch.url.appendingPathComponent("root-only/secret.env").path, target) == 0)
        let result = try RotorProcess.run(["rotate", "hook"], in: scratch.url)
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("belongs to root") || result.stdout.contains("permission denied"), "refused at preflight: \(result.stdout)")
        #expect(!result.stdout.contains("root-only-value"))
        #expect(try String(contentsOf: scratch.url.appendingPathComponent("root-only/secret.env"), encoding: .utf8) == "HOOK=root-only-value\n")
    }

    /// kill -9 in a `user:` consumer's switch, then `recover` (as root): the file is back,
    /// still the user's, with no temporary file left (the crash matrix's `user:` case).
    @Test(arguments: ["update.intent#1", "update.done#1"])
    func aCrashInAUserConsumersSwitchIsRecovered(_ point: String) throws {
        let (scratch, uid, gid) = try Self.setup(named: true)
        let file = scratch.url.appendingPathComponent("deploy/app/.env")
        let before = try Data(contentsOf: file)
        let crashed = try RotorProcess.run(["rotate", "hook"], in: scratch.url, environment: ["ROTOR_TEST_CRASH_AT": point, "ROTOR_TEST_FAIL_WRITE": ""])
        #expect(crashed.status == 9, "\(crashed.stdout)\(crashed.stderr)")
        let recovered = try RotorProcess.run(["recover"], in: scratch.url)
        #expect(recovered.status == 0 && recovered.stdout.contains("rolled back"), "\(recovered.stdout)")
        #expect(try Data(contentsOf: file) == before)
        var info = stat()
        #expect(stat(file.path, &info) == 0 && info.st_uid == uid && info.st_gid == gid)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path).filter { $0.contains("rotor-tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
