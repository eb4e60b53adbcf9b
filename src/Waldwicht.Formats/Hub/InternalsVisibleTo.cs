using System.Runtime.CompilerServices;

// The hub tests set internal options (such as disabling symbolic links) and test internal helpers directly.
[assembly: InternalsVisibleTo("Waldwicht.Hub.Tests")]
