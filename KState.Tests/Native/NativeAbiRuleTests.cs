using KState.Tests.Support;

namespace KState.Tests.Native;

/// <summary>
/// The rules KState.Core and KState.Kho enforce (limits, claims, busy states, reserved names, raw paths), tried
/// through libkstate.so by tests/core_rules.c: each case reproduces a way a C program lost or damaged state before.
/// </summary>
[NonParallelizable]
public class NativeAbiRuleTests : NativeFixture
{
    [TestCase("description-name-over-255")]                 // item 4: save and register refuse what the reader refuses
    [TestCase("session-item-name-over-63")]                 // item 4: the session item's description name
    [TestCase("zero-headed-file-is-not-formatted")]         // item 5
    [TestCase("failed-post_load-releases-claims")]          // item 6
    [TestCase("failed-session-post_load-releases-claims")]  // item 6, sessions
    [TestCase("mismatched-description-claims-nothing")]     // item 7
    [TestCase("one-folio-in-two-slots")]                    // item 8: refused at save
    [TestCase("path-bytes")]                                // item 11: the raw-bytes Kho.Init the native side then calls
    [TestCase("reserved-subtree-name")]                     // item 12
    [TestCase("version-overflow")]                          // minor: INT_MAX / INT_MIN versions are EINVAL
    [TestCase("register-from-pre_save-during-finalize")]    // minor: EBUSY, not "Collection was modified"
    [TestCase("calls-after-finalize")]                      // minor: save/register/unregister after finalize are EBUSY
    [TestCase("pointer-size-overflow")]                     // minor: 0x10000 x 0x10000 refused
    [TestCase("custom-save-no-space")]                      // minor: the first real error of a custom save's puts
    public void The_rule_holds_through_the_C_ABI(string scenario)
    {
        string exe = C.Build("tests/core_rules.c");
        using var region = new TestRegion("crules");
        var r = C.Run(exe, region.Path, scenario);
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain($"ok {scenario}"));
    }
}
