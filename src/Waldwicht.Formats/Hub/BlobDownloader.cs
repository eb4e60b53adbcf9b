using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Waldwicht.Formats.Hub;

/// <summary>
/// Downloads one file into <c>blobs/{etag}</c>: under the blob's lock file, into <c>blobs/{etag}.incomplete</c>,
/// resumed with a Range request when that file already contains data, checked against the announced size and (for
/// LFS files, whose ETag is a SHA-256) the SHA-256, and finally renamed into place.
/// </summary>
internal sealed class BlobDownloader
{
    private const int BufferSize = 1 << 16;

    // Restarts from byte 0 after an unusable response to a Range request, before the download counts as failed.
    private const int MaxRestarts = 2;

    private readonly HubClient _client;
    private readonly HubRepoCache _cache;
    private readonly RetryPolicy _retry;
    private readonly DownloadProgressTracker _progress;
    private readonly Action<string>? _onWarning;

    public BlobDownloader(
        HubClient client, HubRepoCache cache, RetryPolicy retry, DownloadProgressTracker progress, Action<string>? onWarning)
    {
        _client = client;
        _cache = cache;
        _retry = retry;
        _progress = progress;
        _onWarning = onWarning;
    }

    /// <summary>
    /// Makes sure <c>blobs/{etag}</c> exists. Returns true when this call created it, false when it was already there
    /// or another process finished it while this one waited for the lock.
    /// </summary>
    public async Task<bool> DownloadAsync(HubModelId id, string commit, HubFileMetadata file, CancellationToken cancellationToken)
    {
        var blobPath = _cache.BlobPath(file.Etag);
        using (await FileLock.AcquireAsync(
            _cache.LockPath(file.Etag),
            () => _onWarning?.Invoke($"Waiting for another process that is downloading {file.FileName} of {id.RepoId} into {_cache.BlobsFolder}."),
            cancellationToken).ConfigureAwait(false))
        {
            if (HubRepoCache.IsFilePresent(blobPath))
            {
                _progress.Complete(file.FileName);
                return false;
            }

            Directory.CreateDirectory(_cache.BlobsFolder);
            var incompletePath = _cache.IncompletePath(file.Etag);
            await DownloadToIncompleteFileAsync(id, commit, file, incompletePath, cancellationToken).ConfigureAwait(false);
            File.Move(incompletePath, blobPath, overwrite: true);
        }

        _progress.Complete(file.FileName);
        return true;
    }

    private async Task DownloadToIncompleteFileAsync(
        HubModelId id, string commit, HubFileMetadata file, string incompletePath, CancellationToken cancellationToken)
    {
        var rejected = false;
        try
        {
            await using var stream = new FileStream(
                incompletePath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
            using var sha256 = IsSha256(file.Etag) ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
            if (stream.Length > file.Size)
            {
                stream.SetLength(0);
            }

            await HashExistingDataAsync(stream, sha256, cancellationToken).ConfigureAwait(false);
            try
            {
                await ReceiveAsync(id, commit, file, stream, sha256, cancellationToken).ConfigureAwait(false);
            }
            catch (ModelSourceException exception) when (exception.Error == ModelSourceError.IntegrityCheckFailed)
            {
                rejected = true;
                throw;
            }

            if (sha256 is not null)
            {
                var actual = Convert.ToHexStringLower(sha256.GetHashAndReset());
                if (actual != file.Etag)
                {
                    rejected = true;
                    throw new ModelSourceException(
                        ModelSourceError.IntegrityCheckFailed,
                        $"The download of {file.FileName} of {id.RepoId} has SHA-256 {actual}, but the hub announced {file.Etag}. "
                        + "The file was deleted. Run the command again. If this repeats, a proxy or mirror between here and "
                        + $"{_client.Endpoint} serves damaged data.");
                }
            }
        }
        catch (IOException exception) when (IsDiskFull(exception))
        {
            throw new ModelSourceException(
                ModelSourceError.DiskFull,
                $"The disk is full while writing {file.FileName} of {id.RepoId} to {incompletePath}. Free disk space and run "
                + "the command again to resume, or set HF_HUB_CACHE to a folder on a larger disk.",
                exception);
        }
        finally
        {
            if (rejected)
            {
                File.Delete(incompletePath);
            }
        }
    }

    // Receives the rest of the file, resuming after dropped connections. The retry budget starts again whenever an
    // attempt received data, so a slow but working connection finishes.
    private async Task ReceiveAsync(
        HubModelId id, string commit, HubFileMetadata file, FileStream stream, IncrementalHash? sha256, CancellationToken cancellationToken)
    {
        var failures = 0;
        var restarts = 0;
        while (true)
        {
            var offset = stream.Length;
            _progress.Update(file.FileName, offset);
            if (offset == file.Size)
            {
                return;
            }

            try
            {
                using var response = await _client.GetFileAsync(id, commit, file.FileName, offset, cancellationToken).ConfigureAwait(false);
                if (offset > 0 && response.StatusCode == HttpStatusCode.OK)
                {
                    // The server ignored the Range header and sends the whole file.
                    Truncate(stream, sha256, file.FileName);
                }
                else if (!IsUsableResponse(response, offset, file.Size))
                {
                    if (offset == 0 || ++restarts > MaxRestarts)
                    {
                        throw new ModelSourceException(
                            ModelSourceError.InvalidServerResponse,
                            $"The hub at {_client.Endpoint} returned HTTP {(int)response.StatusCode} with a range that does not "
                            + $"continue {file.FileName} of {id.RepoId} at byte {offset}.");
                    }

                    // The server sent another range or rejected this one (HTTP 416): start over.
                    Truncate(stream, sha256, file.FileName);
                    continue;
                }

                await CopyBodyAsync(id, file, response, stream, sha256, cancellationToken).ConfigureAwait(false);
                if (stream.Length != file.Size)
                {
                    throw new ModelSourceException(
                        ModelSourceError.IntegrityCheckFailed,
                        $"The hub sent {stream.Length} bytes of {file.FileName} of {id.RepoId}, but announced {file.Size}. "
                        + "The file was deleted. Run the command again. If this repeats, the hub's file listing is inconsistent.");
                }

                return;
            }
            catch (TransientHubException failure)
            {
                if (stream.Length > offset)
                {
                    failures = 0;
                }

                if (failures >= _retry.MaxRetries)
                {
                    throw failure.GiveUp(failures + 1);
                }

                await _retry.WaitBeforeRetryAsync(failures, failure, cancellationToken).ConfigureAwait(false);
                failures++;
            }
        }
    }

    private async Task CopyBodyAsync(
        HubModelId id,
        HubFileMetadata file,
        HttpResponseMessage response,
        FileStream stream,
        IncrementalHash? sha256,
        CancellationToken cancellationToken)
    {
        var operation = $"downloading {file.FileName} of {id.RepoId}";
        var uri = response.RequestMessage?.RequestUri ?? new Uri(_client.Endpoint);
        var buffer = new byte[BufferSize];
        using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Stream body;
        try
        {
            body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException)
        {
            throw _client.BodyReadFailed(uri, operation, exception);
        }

        await using (body.ConfigureAwait(false))
        {
            stream.Position = stream.Length;
            while (true)
            {
                int read;
                readTimeout.CancelAfter(_client.Timeout);
                try
                {
                    read = await body.ReadAsync(buffer, readTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
                {
                    throw _client.BodyReadFailed(uri, operation, new TimeoutException(exception.Message, exception));
                }
                catch (Exception exception) when (exception is IOException or HttpRequestException)
                {
                    throw _client.BodyReadFailed(uri, operation, exception);
                }

                if (read == 0)
                {
                    return;
                }

                if (stream.Length + read > file.Size)
                {
                    throw new ModelSourceException(
                        ModelSourceError.IntegrityCheckFailed,
                        $"The hub sent more than the announced {file.Size} bytes of {file.FileName} of {id.RepoId}. The file "
                        + "was deleted. Run the command again. If this repeats, the hub's file listing is inconsistent.");
                }

                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                sha256?.AppendData(buffer, 0, read);
                _progress.Update(file.FileName, stream.Length);
            }
        }
    }

    private static bool IsUsableResponse(HttpResponseMessage response, long offset, long size)
    {
        if (offset == 0)
        {
            return response.StatusCode == HttpStatusCode.OK;
        }

        return response.StatusCode == HttpStatusCode.PartialContent
            && response.Content.Headers.ContentRange is ContentRangeHeaderValue { From: var from, Length: var length }
            && from == offset
            && (length is null || length == size);
    }

    private void Truncate(FileStream stream, IncrementalHash? sha256, string fileName)
    {
        stream.SetLength(0);
        sha256?.GetHashAndReset();
        _progress.Update(fileName, 0);
    }

    private static async Task HashExistingDataAsync(FileStream stream, IncrementalHash? sha256, CancellationToken cancellationToken)
    {
        if (sha256 is null || stream.Length == 0)
        {
            return;
        }

        var buffer = new byte[BufferSize];
        stream.Position = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            sha256.AppendData(buffer, 0, read);
        }
    }

    private static bool IsSha256(string etag) => etag.Length == 64 && etag.All(char.IsAsciiHexDigitLower);

    /// <summary>Whether an I/O error means the disk is full: ENOSPC (28) on Linux and macOS, ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL on Windows.</summary>
    internal static bool IsDiskFull(IOException exception)
    {
        var code = exception.HResult & 0xFFFF;
        return OperatingSystem.IsWindows() ? code is 112 or 39 : code == 28;
    }
}
