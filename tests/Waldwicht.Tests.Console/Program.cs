using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Waldwicht.Numerics.Kernels;
using Xunit.Sdk;

namespace Waldwicht.Tests.Console;

/// <summary>
/// Console runner for every [Fact] and [Theory] case of this assembly, run one after another in one process with
/// a new instance of the test class per case and Dispose after it. Arguments: an optional text that the test
/// name (Class.Method) must contain, in any case. Exit code 0 when every case passed, 1 otherwise or when no
/// test matched.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        string filter = args.Length > 0 ? args[0] : "";
        System.Console.WriteLine(
            $"{RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} processors, best kernel path " +
            $"{KernelPaths.Best}; {Features()}");

        int passed = 0;
        int failed = 0;
        var clock = Stopwatch.StartNew();
        foreach (var testClass in TestMethods(filter).GroupBy(method => method.DeclaringType!))
        {
            // The class name comes first, so that a crash of the process shows which class was running.
            System.Console.Write($"{testClass.Key.Name}: ");
            int classPassed = 0;
            var failures = new List<string>();
            foreach (var method in testClass)
            {
                IReadOnlyList<object?[]> cases;
                try
                {
                    cases = Cases(method);
                }
                catch (Exception e)
                {
                    var cause = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
                    failures.Add($"FAIL {method.Name}: its test data could not be read: {cause.GetType().Name}: {cause.Message}");
                    continue;
                }

                foreach (var arguments in cases)
                {
                    try
                    {
                        Run(method, arguments);
                        classPassed++;
                    }
                    catch (Exception e)
                    {
                        var cause = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
                        string name = $"{method.Name}({string.Join(", ", arguments.Select(Describe))})";
                        failures.Add($"FAIL {name}\n  {cause.GetType().Name}: {cause.Message.Replace("\n", "\n  ")}");
                    }
                }
            }

            System.Console.WriteLine($"{classPassed} passed, {failures.Count} failed");
            failures.ForEach(System.Console.WriteLine);
            passed += classPassed;
            failed += failures.Count;
        }

        if (passed + failed == 0)
        {
            System.Console.WriteLine($"No test name (Class.Method) contains '{filter}'.");
            return 1;
        }

        System.Console.WriteLine($"{passed} passed, {failed} failed, {clock.Elapsed.TotalSeconds:F0} s.");
        return failed == 0 ? 0 : 1;
    }

    private static string Features()
    {
        var names = new List<string>();
        void Add(bool supported, string name)
        {
            if (supported)
            {
                names.Add(name);
            }
        }

        Add(AdvSimd.IsSupported, "AdvSimd");
        Add(AdvSimd.Arm64.IsSupported, "AdvSimd.Arm64");
        Add(Dp.IsSupported, "Dp");
        Add(Avx2.IsSupported, "AVX2");
        Add(Fma.IsSupported, "FMA");
        Add(AvxVnni.IsSupported, "AVX-VNNI");
        Add(Vector512.IsHardwareAccelerated, "Vector512");
        return names.Count == 0 ? "no SIMD extensions" : string.Join(", ", names);
    }

    private static IEnumerable<MethodInfo> TestMethods(string filter) =>
        typeof(Program).Assembly.GetTypes()
            .Where(type => type.IsClass && !type.IsAbstract && type.IsPublic)
            .OrderBy(type => type.FullName, StringComparer.Ordinal)
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)
                .Where(method => method.GetCustomAttribute<FactAttribute>() is { Skip: null })
                .OrderBy(method => method.MetadataToken))
            .Where(method => $"{method.DeclaringType!.Name}.{method.Name}".Contains(filter, StringComparison.OrdinalIgnoreCase));

    private static IReadOnlyList<object?[]> Cases(MethodInfo method)
    {
        if (method.GetCustomAttribute<TheoryAttribute>() == null)
        {
            return [[]];
        }

        return method.GetCustomAttributes<DataAttribute>()
            .Where(data => data.Skip == null)
            .SelectMany(data => data.GetData(method))
            .ToList();
    }

    private static void Run(MethodInfo method, object?[] arguments)
    {
        var parameters = method.GetParameters();
        var converted = new object?[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            converted[i] = i < arguments.Length ? Convert(arguments[i], parameters[i].ParameterType) : parameters[i].DefaultValue;
        }

        object? instance = method.IsStatic ? null : Activator.CreateInstance(method.DeclaringType!);
        try
        {
            object? result = method.Invoke(instance, converted);
            if (result is Task task)
            {
                task.GetAwaiter().GetResult();
            }
        }
        finally
        {
            (instance as IDisposable)?.Dispose();
        }
    }

    // Data attributes give constants of their own types, for example an int for a long parameter or a number for
    // an enum parameter, so each argument is converted to its parameter's type.
    private static object? Convert(object? value, Type type)
    {
        if (value == null || type.IsInstanceOfType(value))
        {
            return value;
        }

        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target.IsEnum ? Enum.ToObject(target, value) : System.Convert.ChangeType(value, target, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        string text => $"\"{text}\"",
        Array array => $"[{array.Length}]",
        _ => value.ToString() ?? "",
    };
}
