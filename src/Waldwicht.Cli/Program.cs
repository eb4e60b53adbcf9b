namespace Waldwicht.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("waldwicht: no commands yet.");
        return 1;
    }
}
