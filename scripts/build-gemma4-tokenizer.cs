#:project ../src/Waldwicht.Text/Waldwicht.Text.csproj

// Converts a Gemma 3 tokenizer.json to a Gemma 4 tokenizer.json.
// Usage: dotnet run --file scripts/build-gemma4-tokenizer.cs -- GEMMA3_TOKENIZER_JSON GEMMA4_TOKENIZER_JSON
using Waldwicht.Text.Tokenization;

if (args.Length != 2)
{
    Console.Error.WriteLine("Usage: dotnet run --file scripts/build-gemma4-tokenizer.cs -- GEMMA3_TOKENIZER_JSON GEMMA4_TOKENIZER_JSON");
    return 2;
}

Gemma4Vocabulary.FromGemma3File(args[0], args[1]);
Console.WriteLine($"Wrote {args[1]}");
return 0;
