// netstandard2.0 lacks the type records' init accessors need.
namespace System.Runtime.CompilerServices
{
    internal static class IsExternalInit
    {
    }
}
