import Foundation
import Testing
@testable import RotorCore

/// AWS IAM access keys — the most rotated credential there is — through the real AWS CLI
/// (exec provider) against moto in server mode on loopback: a two-field secret written
/// to env variables, an INI credentials file and Secrets Manager (an exec target with
/// read-back), IAM's two-keys-per-user limit, deactivate-before-delete, and rollback.
@Suite(.serialized) struct AWSIAMTests {
    final class Moto {
        let process = Process()
        let endpoint: String
        let scratch: Scratch
        let environment: [String: String]

        init(c1Health: String = "") throws {
            let port = try Moto.freePort()
            endpoint = "http://127.0.0.1:\(port)"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["moto_server", "-H", "127.0.0.1", "-p", String(port)]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            environment = ["AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]
            scratch = try Scratch()
            // Wait until the server answers (a few seconds at most).
            for _ in 0..<100 {
                if (try? aws(["iam", "list-users"]))?.status == 0 { break }
                usleep(100_000)
            }
            #expect(try aws(["iam", "create-user", "--user-name", "deploy-bot"]).status == 0)
            #expect(try aws(["secretsmanager", "create-secret", "--name", "prod/deploy-bot", "--secret-string", "initial"]).status == 0)
            let e = endpoint
            try scratch.write("policies/iam.yaml", """
                kind: RotationPolicy
                providers:
                  iam-deploy-bot:
                    type: exec
                    create: [aws, iam, create-access-key, --user-name, deploy-bot, --endpoint-url, \(e), --output, json]
                    id: /AccessKey/AccessKeyId
                    secret: /AccessKey/SecretAccessKey
                    deactivate: [aws, iam, update-access-key, --user-name, deploy-bot, --access-key-id, "{id}", --status, Inactive, --endpoint-url, \(e)]
                    delete: [aws, iam, delete-access-key, --user-name, deploy-bot, --access-key-id, "{id}", --endpoint-url, \(e)]
                    list:
                      command: [aws, iam, list-access-keys, --user-name, deploy-bot, --endpoint-url, \(e), --output, json]
                      items: /AccessKeyMetadata
                      id: /AccessKeyId
                      created: /CreateDate
                      status: /Status
                    max_generations: 2
                keys:
                  aws-deploy-bot:
                    provider: iam-deploy-bot
                    grace: 0s
                    verify:
                      # moto answers any unknown key as its default identity where AWS refuses it:
                      # the check asks for deploy-bot's identity, so a deleted key fails as on AWS.
                      - exec: [sh, -c, 'aws sts get-caller-identity --endpoint-url "$1" --query Arn --output text | grep -q ":user/deploy-bot$"', sh, \(e)]
                        env: { AWS_ACCESS_KEY_ID: "{id}", AWS_SECRET_ACCESS_KEY: "{secret}" }
                """)
            try scratch.write("consumers/deploy-bot.yaml", """
                kind: ConsumerManifest
                consumers:
                  deploy-bot:
                    uses: aws-deploy-bot
                    targets:
                      - env_file: ../deploy/deploy.env
                        var: AWS_ACCESS_KEY_ID
                        value: "{id}"
                      - env_file: ../deploy/deploy.env
                        var: AWS_SECRET_ACCESS_KEY
                      - ini_file: ../deploy/credentials
                        section: deploy-bot
                        key: aws_access_key_id
                        value: "{id}"
                      - ini_file: ../deploy/credentials
                        section: deploy-bot
                        key: aws_secret_access_key
                      - exec: [aws, secretsmanager, put-secret-value, --secret-id, prod/deploy-bot, --secret-string, "file:///dev/stdin", --endpoint-url, \(e)]
                        stdin: "{secret}"
                        read: [aws, secretsmanager, get-secret-value, --secret-id, prod/deploy-bot, --query, SecretString, --output, text, --endpoint-url, \(e)]
                \(c1Health)
                """)
            try scratch.write("deploy/deploy.env", "AWS_ACCESS_KEY_ID=AKIAPLACEHOLDER\nAWS_SECRET_ACCESS_KEY=placeholder\n")
            try scratch.write("deploy/credentials", "[default]\nregion = us-east-1\n\n[deploy-bot]\naws_access_key_id = AKIAPLACEHOLDER\naws_secret_access_key = placeholder\n")
        }

        deinit {
            // SIGKILL: a child of the test runner may inherit a blocked SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        static func freePort() throws -> Int {
            let result = try RotorProcess.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"],
                                              executable: URL(fileURLWithPath: "/usr/bin/env"))
            return Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }

        @discardableResult
        func aws(_ arguments: [String]) throws -> RotorProcess.Result {
            try RotorProcess.run(["aws"] + arguments + ["--endpoint-url", endpoint, "--output", "json"], environment: environment,
                                 executable: URL(fileURLWithPath: "/usr/bin/env"))
        }

        func rotor(_ arguments: [String]) throws -> RotorProcess.Result {
            try RotorProcess.run(arguments, in: scratch.url, environment: environment)
        }

        /// `rotor` with the AWS CLI behind a shim that logs each call's operation and
        /// arguments (none is a secret: secrets go by stdin), in the order rotor made them.
        func rotorLoggingAWSCalls(_ arguments: [String]) throws -> (result: RotorProcess.Result, calls: [String]) {
            let real = try #require(CommandRunner.locate("aws", in: scratch.url.path))
            let log = scratch.url.appendingPathComponent("aws-calls.log")
            try? FileManager.default.removeItem(at: log)
            try scratch.write("shim/aws", "#!/bin/sh\necho \"$*\" >> '\(log.path)'\nexec '\(real)' \"$@\"\n")
            chmod(scratch.url.appendingPathComponent("shim/aws").path, 0o755)
            let path = scratch.url.appendingPathComponent("shim").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let result = try RotorProcess.run(arguments, in: scratch.url, environment: environment.merging(["PATH": path]) { $1 })
            let calls = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return (result, calls)
        }

        /// (id, status) of the user's access keys.
        func accessKeys() throws -> [(String, String)] {
            let listed = try JSONSerialization.jsonObject(with: Data(try aws(["iam", "list-access-keys", "--user-name", "deploy-bot"]).stdout.utf8)) as? [String: Any]
            return ((listed?["AccessKeyMetadata"] as? [[String: Any]]) ?? []).map { ($0["AccessKeyId"] as? String ?? "", $0["Status"] as? String ?? "") }
        }

        func secretsManagerValue() throws -> String {
            let result = try aws(["secretsmanager", "get-secret-value", "--secret-id", "prod/deploy-bot"])
            return ((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["SecretString"] as? String) ?? ""
        }

        func targets() throws -> (id: String, secret: String, iniID: String, iniSecret: String) {
            let env = Array(try scratch.bytes("deploy/deploy.env")), ini = Array(try scratch.bytes("deploy/credentials"))
            return (try EnvFileFormat(variable: "AWS_ACCESS_KEY_ID").read(env).get(), try EnvFileFormat(variable: "AWS_SECRET_ACCESS_KEY").read(env).get(),
                    try INIFileFormat(section: "deploy-bot", key: "aws_access_key_id").read(ini).get(),
                    try INIFileFormat(section: "deploy-bot", key: "aws_secret_access_key").read(ini).get())
        }
    }

    @Test func rotatesAnAccessKeyIntoEnvINIAndSecretsManager() throws {
        let moto = try Moto()
        let first = try moto.rotor(["rotate", "aws-deploy-bot"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let firstKey = try #require(try moto.accessKeys().first?.0)
        let (second, calls) = try moto.rotorLoggingAWSCalls(["rotate", "aws-deploy-bot"])
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        // The old key is made Inactive first, and only then deleted.
        let deactivated = calls.firstIndex { $0.hasPrefix("iam update-access-key") && $0.contains(firstKey) && $0.contains("Inactive") }
        let deleted = calls.firstIndex { $0.hasPrefix("iam delete-access-key") && $0.contains(firstKey) }
        #expect(deactivated != nil && deleted != nil && deactivated! < deleted!, "\(calls)")
        let keys = try moto.accessKeys()
        #expect(keys.count == 1 && keys[0].0 != firstKey, "the old key is gone")
        let targets = try moto.targets()
        #expect(targets.id == keys[0].0 && targets.iniID == keys[0].0)
        #expect(targets.secret == targets.iniSecret && targets.secret.count == 40)
        #expect(try moto.secretsManagerValue() == targets.secret)
        #expect(!second.stdout.contains(targets.secret) && !second.stderr.contains(targets.secret))
    }

    @Test func theTwoKeyLimitIsHandledAtPreflight() throws {
        let moto = try Moto()
        #expect(try moto.rotor(["rotate", "aws-deploy-bot"]).status == 0)
        let current = try #require(try moto.accessKeys().first?.0)
        let extra = try JSONSerialization.jsonObject(with: Data(try moto.aws(["iam", "create-access-key", "--user-name", "deploy-bot"]).stdout.utf8)) as? [String: Any]
        let extraID = try #require((extra?["AccessKey"] as? [String: Any])?["AccessKeyId"] as? String)
        let before = try moto.targets()
        let refused = try moto.rotor(["rotate", "aws-deploy-bot"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("provider 'iam-deploy-bot' already holds 2 generations"))
        #expect(refused.stdout.contains("\(current) (current)") && refused.stdout.contains("set delete_inactive_when_full: true"))
        #expect(try moto.targets() == before)
        // Deactivated, and the policy allows it: rotor makes room by deleting it.
        try moto.aws(["iam", "update-access-key", "--user-name", "deploy-bot", "--access-key-id", extraID, "--status", "Inactive"])
        let policy = try String(decoding: moto.scratch.bytes("policies/iam.yaml"), as: UTF8.self)
        try moto.scratch.write("policies/iam.yaml", policy.replacingOccurrences(of: "    max_generations: 2\n", with: "    max_generations: 2\n    delete_inactive_when_full: true\n"))
        let rotated = try moto.rotor(["rotate", "aws-deploy-bot"])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        let keys = try moto.accessKeys().map(\.0)
        #expect(keys.count == 1 && !keys.contains(extraID) && !keys.contains(current))
    }

    @Test func aRollbackDeletesTheNewKey() throws {
        let moto = try Moto(c1Health: "    health: { exec: [\"false\"] }")
        let result = try moto.rotor(["rotate", "aws-deploy-bot"])
        #expect(result.status == 3, "the consumer stays unhealthy after rollback too: \(result.stdout)")
        #expect(try moto.accessKeys().isEmpty, "the new key was deleted")
        #expect(try moto.targets() == ("AKIAPLACEHOLDER", "placeholder", "AKIAPLACEHOLDER", "placeholder"))
        #expect(try moto.secretsManagerValue() == "initial")
    }
}
