using KState;

namespace KState.Tests.Machine;

/// <summary>One error vocabulary: every KState exception carries a KStateErrno with the Linux value the C ABI returns.</summary>
public class ErrnoTests
{
    private static IEnumerable<TestCaseData> Exceptions()
    {
        yield return new TestCaseData(new KStateNotFoundException("m"), KStateErrno.ENOENT, 2);
        yield return new TestCaseData(new KStateCorruptException("m"), KStateErrno.EBADMSG, 74);
        yield return new TestCaseData(new KStateVersionException("m"), KStateErrno.EPROTO, 71);
        yield return new TestCaseData(new KStateInvalidException("m"), KStateErrno.EINVAL, 22);
        yield return new TestCaseData(new KStateOutOfMemoryException("m"), KStateErrno.ENOMEM, 12);
        yield return new TestCaseData(new KStateNoSpaceException("m"), KStateErrno.ENOSPC, 28);
        yield return new TestCaseData(new KStateBusyException("m"), KStateErrno.EBUSY, 16);
        yield return new TestCaseData(new KStateExistsException("m"), KStateErrno.EEXIST, 17);
        yield return new TestCaseData(new KStateTimeoutException("m"), KStateErrno.ETIMEDOUT, 110);
    }

    [TestCaseSource(nameof(Exceptions))]
    public void Every_exception_carries_its_errno_by_name_and_by_its_Linux_value(KStateException e, KStateErrno name, int linux)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.Error, Is.EqualTo(name));
            Assert.That(e.Errno, Is.EqualTo(linux));
            Assert.That((int)name, Is.EqualTo(linux));
        }
    }

    [Test]
    public void The_errno_enum_names_exactly_the_errors_of_the_design()
    {
        Assert.That(Enum.GetNames<KStateErrno>(), Is.EquivalentTo(new[] { "ENOENT", "EBADMSG", "EPROTO", "EINVAL", "ENOMEM", "ENOSPC", "EBUSY", "EEXIST", "ETIMEDOUT" }));
    }
}
