using System.Runtime;
using Microsoft.AspNetCore.Http;
using Waldwicht.Runtime;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Server.Api;
using Waldwicht.Server.Metrics;

namespace Waldwicht.Server.Endpoints;

/// <summary>Handlers of the model list, health, metrics and debug endpoints.</summary>
internal sealed class InfoEndpoints(ChatEngine engine, ModelCatalog catalog, PrometheusExporter exporter)
{
    private const double Mebibyte = 1024 * 1024;

    public Task ModelsAsync(HttpContext context) =>
        WriteJsonAsync(context, JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            WriteModel(writer);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }));

    public Task ModelAsync(HttpContext context, string id)
    {
        if (!catalog.Serves(id))
        {
            throw new ApiException(StatusCodes.Status404NotFound, ApiErrorTypes.InvalidRequest,
                $"The model '{id}' is not served here; this server serves '{catalog.Id}'.", "model", "model_not_found");
        }

        return WriteJsonAsync(context, JsonBody.Write(WriteModel));
    }

    public Task HealthAsync(HttpContext context) =>
        WriteJsonAsync(context, JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("status", "ok");
            writer.WriteString("model", catalog.Id);
            writer.WriteNumber("running_requests", engine.RunningRequests);
            writer.WriteNumber("queued_requests", engine.QueuedRequests);
            writer.WriteEndObject();
        }));

    public async Task MetricsAsync(HttpContext context)
    {
        context.Response.ContentType = PrometheusExporter.ContentType;
        await context.Response.WriteAsync(exporter.Render(), context.RequestAborted);
    }

    public Task MemoryAsync(HttpContext context)
    {
        var snapshot = MemorySnapshot.Take(engine);
        return WriteJsonAsync(context, JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            snapshot.Write(writer, prefix: string.Empty);
            writer.WriteEndObject();
        }));
    }

    /// <summary>Drops the prompt cache and compacts the managed heap; reports memory before and after.</summary>
    public Task ClearCacheAsync(HttpContext context)
    {
        var before = MemorySnapshot.Take(engine);
        long released = engine.PromptCache.Clear();
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var after = MemorySnapshot.Take(engine);
        return WriteJsonAsync(context, JsonBody.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteNumber("prompt_cache_released_bytes", released);
            writer.WriteNumber("freed_bytes", Math.Max(0, before.ResidentBytes - after.ResidentBytes));
            before.Write(writer, "before_");
            after.Write(writer, "after_");
            writer.WriteEndObject();
        }));
    }

    private void WriteModel(System.Text.Json.Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("id", catalog.Id);
        writer.WriteString("object", "model");
        writer.WriteNumber("created", catalog.Created);
        writer.WriteString("owned_by", "waldwicht");
        writer.WriteNumber("context_length", engine.ContextLength);
        writer.WriteEndObject();
    }

    private static async Task WriteJsonAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private sealed record MemorySnapshot(
        long ResidentBytes, long PeakResidentBytes, long ManagedHeapBytes, long CommittedBytes, long KvCacheBytes, int PromptCacheEntries, long PromptCacheBytes)
    {
        public static MemorySnapshot Take(ChatEngine engine)
        {
            var info = GC.GetGCMemoryInfo();
            return new MemorySnapshot(
                ProcessMemory.CurrentResidentBytes(),
                ProcessMemory.PeakResidentBytes(),
                GC.GetTotalMemory(forceFullCollection: false),
                info.TotalCommittedBytes,
                engine.SlotKvCacheBytes,
                engine.PromptCache.Count,
                engine.PromptCache.Bytes);
        }

        public void Write(System.Text.Json.Utf8JsonWriter writer, string prefix)
        {
            WriteBytes(writer, prefix + "resident", ResidentBytes);
            WriteBytes(writer, prefix + "peak_resident", PeakResidentBytes);
            WriteBytes(writer, prefix + "managed_heap", ManagedHeapBytes);
            WriteBytes(writer, prefix + "gc_committed", CommittedBytes);
            WriteBytes(writer, prefix + "kv_cache", KvCacheBytes);
            writer.WriteNumber(prefix + "prompt_cache_entries", PromptCacheEntries);
            WriteBytes(writer, prefix + "prompt_cache", PromptCacheBytes);
        }

        private static void WriteBytes(System.Text.Json.Utf8JsonWriter writer, string name, long bytes)
        {
            writer.WriteNumber(name + "_bytes", bytes);
            writer.WriteNumber(name + "_mb", Math.Round(bytes / Mebibyte, 1));
        }
    }
}
