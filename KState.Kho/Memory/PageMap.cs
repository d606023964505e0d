namespace KState.Machine.Memory;

/// <summary>
/// One byte per page, stored sparsely in chunks of 4096 pages (the span of one region map page), so that
/// state for a large region costs memory only where something is kept.
/// </summary>
internal sealed class PageMap
{
    public const int ChunkShift = 12;
    public const int ChunkPages = 1 << ChunkShift;
    private readonly byte[]?[] _chunks;

    public PageMap(ulong totalPages) => _chunks = new byte[]?[(totalPages + ChunkPages - 1) >> ChunkShift];

    public int ChunkCount => _chunks.Length;

    public byte this[ulong page]
    {
        get
        {
            var c = _chunks[page >> ChunkShift];
            return c is null ? (byte)0 : c[page & (ChunkPages - 1)];
        }
        set
        {
            ref var c = ref _chunks[page >> ChunkShift];
            if (c is null)
            {
                if (value == 0) return;
                c = new byte[ChunkPages];
            }
            c[page & (ChunkPages - 1)] = value;
        }
    }

    /// <summary>The chunk holding pages [index*4096, index*4096+4096), or null when all of them are zero.</summary>
    public byte[]? Chunk(int index) => _chunks[index];

    public byte[] GetOrAddChunk(int index) => _chunks[index] ??= new byte[ChunkPages];

    /// <summary>True when pages [page, page+count) are all zero; the run must not cross a chunk boundary.</summary>
    public bool IsZero(ulong page, int count)
    {
        var c = _chunks[page >> ChunkShift];
        return c is null || !c.AsSpan((int)(page & (ChunkPages - 1)), count).ContainsAnyExcept((byte)0);
    }
}
